"""Command handlers: load the aggregate from the store, let it decide, append with the expected version.

Grants and positions. Each command runs in one transaction: the append (event + outbox row), the read model rows
that mirror it and, where a staff member's VZÄ share changes, their caseload re-check.
"""

from __future__ import annotations

import uuid

from kim_runtime.commands import CommandContext, UnitOfWork
from kim_runtime.envelope import Envelope
from kim_runtime.errors import NotFound, RuleViolation, check_expected
from kim_runtime.store import EventStore

from ..adapters import caseload_sql
from ..adapters import staffing_sql as sql
from ..domain.grant import Grant
from ..domain.position import Position, establish
from ..domain.timeline import Span
from . import commands as c
from .caseload import reevaluate
from .repository import Repositories


class Staffing(Repositories):
    def __init__(self, store: EventStore, *, limit_per_vza: int):
        super().__init__(store)
        self.limit_per_vza = limit_per_vza

    async def _grant(self, uow: UnitOfWork, grant_id: str, *, lock: bool = True) -> Grant:
        if lock:
            await sql.lock(uow.conn, grant_id)
        grant = await self.grants.load(grant_id, uow)
        if not grant.exists:
            raise NotFound(f"grant {grant_id} not found: award it first (POST /grants)")
        return grant

    async def _position(self, uow: UnitOfWork, position_id: str, seen: int | None) -> Position:
        position = await self.positions.load(position_id, uow)
        if not position.exists:
            raise NotFound(f"position {position_id} not found")
        check_expected(position_id, seen, position.version)
        return position

    # -- grants and positions ----------------------------------------------------------------------
    async def award_grant(self, ctx: CommandContext, cmd: c.AwardGrant) -> Grant:
        grant_id = cmd.grant_id or str(uuid.uuid4())
        async with UnitOfWork(self.store) as uow:
            grant = await self.grants.load(grant_id, uow)
            if grant.exists:
                raise RuleViolation(f"grant {grant_id} exists already")
            event = Grant.award(grant_id, **cmd.model_dump(exclude={"grant_id"}))
            expected = grant.version
            await self.grants.append(grant_id, expected, grant.emit(event), ctx, uow=uow)
            await sql.save_grant(uow.conn, grant)
        return grant

    async def establish_position(self, ctx: CommandContext, cmd: c.EstablishPosition) -> Position:
        position_id = cmd.position_id or str(uuid.uuid4())
        async with UnitOfWork(self.store) as uow:
            grant = await self._grant(uow, cmd.grant_id) if cmd.grant_id else None
            position = await self.positions.load(position_id, uow)
            if position.exists:
                raise RuleViolation(f"position {position_id} exists already")
            event = establish(position_id, grant=grant, **cmd.model_dump(exclude={"position_id", "grant_id"}))
            if grant is not None:
                span = Span.inclusive(event.valid_from, event.valid_to)
                grant.admit(event.baustein, span, event.vza, await sql.grant_loads(uow.conn, grant.grant_id))
            await self._append(uow, ctx, position, event, event.municipality)
        return position

    async def transfer_position(self, ctx: CommandContext, position_id: str, cmd: c.TransferPosition,
                                seen: int | None) -> Position:
        async with UnitOfWork(self.store) as uow:
            grant = await self._grant(uow, cmd.grant_id) if cmd.grant_id else None
            position = await self._position(uow, position_id, seen)
            event = position.transfer(cmd.from_programme, grant, cmd.transferred_on)
            if grant is not None:
                grant.admit(position.established.baustein, Span(cmd.transferred_on, position.span.end), position.vza,
                            await sql.grant_loads(uow.conn, grant.grant_id))
            await self._append(uow, ctx, position, event, position.established.municipality)
        return position

    async def fill_position(self, ctx: CommandContext, position_id: str, cmd: c.FillPosition, seen: int | None) -> Position:
        async with UnitOfWork(self.store) as uow:
            position = await self._position(uow, position_id, seen)
            grant = await self._grant(uow, position.grant_id, lock=False) if position.grant_id else None
            event = position.fill(cmd.staff_member_id, cmd.vza_share, cmd.filled_on, grant)
            await self._after_occupancy_change(uow, ctx, position, event)
        return position

    async def vacate_position(self, ctx: CommandContext, position_id: str, cmd: c.VacatePosition,
                              seen: int | None) -> Position:
        async with UnitOfWork(self.store) as uow:
            position = await self._position(uow, position_id, seen)
            event = position.vacate(cmd.staff_member_id, cmd.vza_share, cmd.vacated_on, cmd.reason)
            await self._after_occupancy_change(uow, ctx, position, event)
        return position

    async def _append(self, uow: UnitOfWork, ctx: CommandContext, position: Position, event,
                      municipality: str) -> Envelope:
        """Append one decision at the position's version, apply it, and mirror it in the read model."""
        expected = position.version
        [env] = await self.positions.append(position.position_id, expected, position.emit(event), ctx, uow=uow,
                                            municipality=municipality)
        await sql.save_position(uow.conn, position)
        return env

    async def _after_occupancy_change(self, uow: UnitOfWork, ctx: CommandContext, position: Position, event) -> None:
        """The caseload is recounted as of the appended event's time, as a rebuild will (application/caseload.py)."""
        env = await self._append(uow, ctx, position, event, position.established.municipality)
        await caseload_sql.hold_live(uow.conn)
        await reevaluate(uow.conn, self.store, event.staff_member_id, limit_per_vza=self.limit_per_vza, ctx=ctx,
                         at=env.time)
