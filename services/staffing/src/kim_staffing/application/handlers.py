"""Command handlers: load the aggregate from the store, let it decide, append with the expected version.

Each command runs in one transaction: the append (events + outbox rows), the read model rows that mirror them and,
where a staff member's VZÄ share changes, their caseload re-check.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
from kim_runtime.errors import ConcurrencyConflict, NotFound, RuleViolation
from kim_runtime.store import EventStore
from kim_schemas.base import Event, parse
from kim_schemas.staffing import CaseManagerAssigned, GrantAwarded

from ..adapters import caseload_sql, staffing_sql as sql
from ..adapters.events import Context, envelope
from ..domain.assignment import CaseAssignment
from ..domain.grant import Grant
from ..domain.position import POSITION_EVENTS, Position, establish
from ..domain.timeline import Span
from . import commands as c
from .caseload import reevaluate


def _check_version(stream_id: str, seen: int | None, actual: int) -> None:
    if seen is not None and seen != actual:
        raise ConcurrencyConflict(stream_id, seen, actual)


class Staffing:
    def __init__(self, pool: asyncpg.Pool, store: EventStore, *, limit_per_vza: int):
        self.pool, self.store, self.limit_per_vza = pool, store, limit_per_vza

    async def _load(self, conn, aggregate, stream_id: str, kinds: tuple[type[Event], ...]):
        for env in await self.store.read_stream(stream_id, conn=conn):
            event = parse(env.type, env.schema_version, env.data)
            if not isinstance(event, kinds):
                raise RuleViolation(f"id {stream_id} is already used by a {env.type.rsplit('.', 1)[1]} stream: "
                                    "choose another id")
            aggregate.apply(event)
        return aggregate

    async def _grant(self, conn, grant_id: str, *, lock: bool = True) -> Grant:
        if lock:
            await sql.lock(conn, grant_id)
        grant = await self._load(conn, Grant(grant_id), grant_id, (GrantAwarded,))
        if not grant.exists:
            raise NotFound(f"grant {grant_id} not found: award it first (POST /grants)")
        return grant

    async def _position(self, conn, position_id: str, seen: int | None) -> Position:
        position = await self._load(conn, Position(position_id), position_id, POSITION_EVENTS)
        if not position.exists:
            raise NotFound(f"position {position_id} not found")
        _check_version(position_id, seen, position.version)
        return position

    async def _append(self, conn, aggregate, event: Event, ctx: Context, municipality: str | None = None) -> None:
        await self.store.append(event.stream_id(), [envelope(event, ctx, municipality=municipality)],
                                aggregate.version, conn=conn)
        aggregate.apply(event)

    # -- grants and positions ----------------------------------------------------------------------
    async def award_grant(self, ctx: Context, cmd: c.AwardGrant) -> Grant:
        grant_id = cmd.grant_id or str(uuid.uuid4())
        async with self.pool.acquire() as conn, conn.transaction():
            grant = await self._load(conn, Grant(grant_id), grant_id, (GrantAwarded,))
            if grant.exists:
                raise RuleViolation(f"grant {grant_id} exists already")
            event = Grant.award(grant_id, **cmd.model_dump(exclude={"grant_id"}))
            await self._append(conn, grant, event, ctx)
            await sql.save_grant(conn, grant)
        return grant

    async def establish_position(self, ctx: Context, cmd: c.EstablishPosition) -> Position:
        position_id = cmd.position_id or str(uuid.uuid4())
        async with self.pool.acquire() as conn, conn.transaction():
            grant = await self._grant(conn, cmd.grant_id) if cmd.grant_id else None
            position = await self._load(conn, Position(position_id), position_id, POSITION_EVENTS)
            if position.exists:
                raise RuleViolation(f"position {position_id} exists already")
            event = establish(position_id, grant=grant, **cmd.model_dump(exclude={"position_id", "grant_id"}))
            if grant is not None:
                span = Span.inclusive(event.valid_from, event.valid_to)
                grant.admit(event.baustein, span, event.vza, await sql.grant_loads(conn, grant.grant_id))
            await self._append(conn, position, event, ctx, event.municipality)
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
            await self._append(conn, position, event, ctx, position.established.municipality)
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
        await self._append(conn, position, event, ctx, position.established.municipality)
        await sql.save_position(conn, position)
        await reevaluate(conn, self.store, event.staff_member_id, limit_per_vza=self.limit_per_vza, ctx=ctx,
                         at=datetime.now(UTC))

    # -- case managers -----------------------------------------------------------------------------
    async def assign_case_manager(self, ctx: Context, case_id: str, cmd: c.AssignCaseManager,
                                  seen: int | None) -> CaseAssignment:
        async with self.pool.acquire() as conn, conn.transaction():
            known = await caseload_sql.case(conn, case_id)
            if known is None:
                raise NotFound(f"case {case_id} is not known to staffing (yet): it appears once the cases service "
                               "has published its CaseOpened; try again shortly")
            assignment = await self._load(conn, CaseAssignment(case_id), case_id, (CaseManagerAssigned,))
            _check_version(case_id, seen, assignment.version)
            event = assignment.assign(cmd.staff_member_id, cmd.assigned_on, current=known["staff_member_id"],
                                      case_closed=known["status"] == "closed")
            env = envelope(event, ctx, municipality=known["municipality"])
            await self.store.append(case_id, [env], assignment.version, conn=conn)
            assignment.apply(event)
            # the caseload follows at once (the same event, consumed from Kafka later, finds nothing to change)
            touched = await caseload_sql.set_manager(conn, case_id, cmd.staff_member_id, env.time)
            for staff_member_id in sorted(touched):
                await reevaluate(conn, self.store, staff_member_id, limit_per_vza=self.limit_per_vza, ctx=ctx,
                                 at=env.time)
        return assignment
