"""Consistent reads of the projections that never deadlock with a rebuild's swap.

A read takes each projection's advisory lock in shared mode (sorted, before touching any table), the same lock live
handling takes shared and the swap takes exclusively. So a read waits for a swap in progress instead of holding table
locks the swap needs, and all its queries see one snapshot.

The locks are session locks taken *before* the read's transaction begins. A repeatable-read snapshot is taken by the
transaction's first statement, and a lock taken inside it (`pg_advisory_xact_lock_shared` is a SELECT) would fix the
snapshot before the read waited for a swap: the read would then find the swapped-in tables by name, but only the
rows of the rebuild's batches that had committed before it began, a half-built view.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import asyncpg

from kim_runtime.db import holds_session_state
from kim_runtime.projection import lock_key

from .projections.cases import CasesProjection
from .projections.referrals import ReferralsProjection
from .projections.reports import ReportsProjection
from .projections.staffing import StaffingProjection

PROJECTIONS = tuple(p.name for p in (CasesProjection, ReferralsProjection, StaffingProjection, ReportsProjection))


@contextlib.asynccontextmanager
async def snapshot(conn: asyncpg.Connection, projections: tuple[str, ...] = PROJECTIONS) -> AsyncIterator[None]:
    held: list[int] = []
    holds_session_state(conn)  # the pool unlocks everything when the connection comes back, whatever happens here
    try:
        for key in sorted(lock_key(name) for name in projections):
            await conn.execute("SELECT pg_advisory_lock_shared($1)", key)
            held.append(key)
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            yield
    finally:  # a broken connection holds no locks; a connection given back to the pool is reset (unlock_all) anyway (holds_session_state)
        with contextlib.suppress(asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
            for key in reversed(held):
                await conn.execute("SELECT pg_advisory_unlock_shared($1)", key)
