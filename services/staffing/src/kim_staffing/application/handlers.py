"""Command handlers: load the aggregate from the store, let it decide, append with the expected version.

Grants and positions. Each command runs in one transaction: the append (event + outbox row), the read model rows
that mirror it and, where a staff member's VZÄ share changes, their caseload re-check.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
from kim_runtime.errors import NotFound, RuleViolation, check_expected
from kim_runtime.store import EventStore
from kim_schemas.staffing import GrantAwarded

from ..adapters import staffing_sql as sql
from ..adapters.events import Context
from ..domain.grant import Grant
from ..domain.position import POSITION_EVENTS, Position, establish
from ..domain.timeline import Span
from . import commands as c
from .caseload import reevaluate
from .repository import Repository


class Staffing(Repository):
    def __init__(self, pool: asyncpg.Pool, store: EventStore, *, limit_per_vza: int):
        super().__init__(pool, store)
        self.limit_per_vza = limit_per_vza

    async def _grant(self, conn, grant_id: str, *, lock: bool = True) -> Grant:
        if lock:
            await sql.lock(conn, grant_id)
        grant = await self.load(conn, Grant(grant_id), grant_id, (GrantAwarded,))
        if not grant.exists:
            raise NotFound(f"grant {grant_id} not found: award it first (POST /grants)")
        return grant

    async def _position(self, conn, position_id: str, seen: int | None) -> Position:
        position = await self.load(conn, Position(position_id), position_id, POSITION_EVENTS)
        if not position.exists:
            raise NotFound(f"position {position_id} not found")
        check_expected(position_id, seen, position.version)
        return position

    # -- grants and positions ----------------------------------------------------------------------
    async def award_grant(self, ctx: Context, cmd: c.AwardGrant) -> Grant:
        grant_id = cmd.grant_id or str(uuid.uuid4())
        async with self.pool.acquire() as conn, conn.transaction():
            grant = await self.load(conn, Grant(grant_id), grant_id, (GrantAwarded,))
            if grant.exists:
                raise RuleViolation(f"grant {grant_id} exists already")
            event = Grant.award(grant_id, **cmd.model_dump(exclude={"grant_id"}))
            await self.append(conn, grant, event, ctx)
            await sql.save_grant(conn, grant)
        return grant

    async def establish_position(self, ctx: Context, cmd: c.EstablishPosition) -> Position:
        position_id = cmd.position_id or str(uuid.uuid4())
        async with self.pool.acquire() as conn, conn.transaction():
            grant = await self._grant(conn, cmd.grant_id) if cmd.grant_id else None
            position = await self.load(conn, Position(position_id), position_id, POSITION_EVENTS)
            if position.exists:
                raise RuleViolation(f"position {position_id} exists already")
            event = establish(position_id, grant=grant, **cmd.model_dump(exclude={"position_id", "grant_id"}))
            if grant is not None:
                span = Span.inclusive(event.valid_from, event.valid_to)
                grant.admit(event.baustein, span, event.vza, await sql.grant_loads(conn, grant.grant_id))
            await self.append(conn, position, event, ctx, event.municipality)
            await sql.save_position(conn, position)
        return position

    async def transfer_position(self, ctx: Context, position_id: str, cmd: c.TransferPosition,
                                seen: int | None) -> Position:
        async with self.pool.acquire() as conn, conn.transaction():
            grant = await self._grant(conn, cmd.grant_id) if cmd.grant_id else None
            position = await self._position(conn, position_id, seen)
            event = position.transfer(cmd.from_programme, grant, cmd.transferred_on)
            if grant is not None:
                grant.admit(position.established.baustein, Span(cmd.transferred_on, position.span.end), position.vza,
                            await sql.grant_loads(conn, grant.grant_id))
            await self.append(conn, position, event, ctx, position.established.municipality)
            await sql.save_position(conn, position)
        return position

    async def fill_position(self, ctx: Context, position_id: str, cmd: c.FillPosition, seen: int | None) -> Position:
        async with self.pool.acquire() as conn, conn.transaction():
            position = await self._position(conn, position_id, seen)
            grant = await self._grant(conn, position.grant_id, lock=False) if position.grant_id else None
            event = position.fill(cmd.staff_member_id, cmd.vza_share, cmd.filled_on, grant)
            await self._after_occupancy_change(conn, ctx, position, event)
        return position

    async def vacate_position(self, ctx: Context, position_id: str, cmd: c.VacatePosition,
                              seen: int | None) -> Position:
        async with self.pool.acquire() as conn, conn.transaction():
            position = await self._position(conn, position_id, seen)
            event = position.vacate(cmd.staff_member_id, cmd.vza_share, cmd.vacated_on, cmd.reason)
            await self._after_occupancy_change(conn, ctx, position, event)
        return position

    async def _after_occupancy_change(self, conn, ctx: Context, position: Position, event) -> None:
        await self.append(conn, position, event, ctx, position.established.municipality)
        await sql.save_position(conn, position)
        await reevaluate(conn, self.store, event.staff_member_id, limit_per_vza=self.limit_per_vza, ctx=ctx,
                         at=datetime.now(UTC))
