"""The caseload policy: follow which cases each case manager carries and announce limit crossings.

Fed by kim.cases (CaseOpened, CaseTransferred, CasePaused, CaseResumed, CaseClosed) and by this service's own
CaseManagerAssigned. Each record is handled once (the runtime's inbox), in one transaction with the limit event it
may append, so a crossing is announced exactly once even when Kafka redelivers.
"""

from __future__ import annotations

from datetime import date, datetime

import asyncpg
from kim_runtime.commands import CommandContext
from kim_runtime.dispatch import by_type, types_of
from kim_runtime.envelope import Envelope
from kim_runtime.store import EventStore
from kim_runtime.topics import service_topic
from kim_schemas.base import parse
from kim_schemas import cases as cev
from kim_schemas.staffing import CaseManagerAssigned, CaseloadLimitExceeded

from ..adapters import caseload_sql as sql
from ..adapters.events import SERVICE_ACTOR, SOURCE
from ..adapters.staffing_sql import staff_share
from ..domain.caseload import FULL_TIME, Caseload, limit_for

CASE_EVENTS = types_of(cev.CaseOpened, cev.CaseTransferred, cev.CasePaused, cev.CaseResumed, cev.CaseClosed,
                       CaseManagerAssigned)
STATUS_AFTER = by_type({cev.CasePaused: "paused", cev.CaseResumed: "open", cev.CaseClosed: "closed"})


async def reevaluate(conn: asyncpg.Connection, store: EventStore, staff_member_id: str, *, limit_per_vza: int,
                     ctx: CommandContext, at: datetime, today: date | None = None):
    """Recount a staff member's active cases and append a limit event if they crossed the limit."""
    state = await sql.lock_caseload(conn, staff_member_id)
    active = await sql.active_cases(conn, staff_member_id)
    share = await staff_share(conn, staff_member_id, today or date.today())
    share = FULL_TIME if share is None else share  # not (yet) known to staffing as filling a position
    event = Caseload(staff_member_id, active, share, state["over_limit"]).check(limit_per_vza, at)
    over = state["over_limit"] if event is None else isinstance(event, CaseloadLimitExceeded)
    await sql.save_caseload(conn, staff_member_id, active, share, limit_for(share, limit_per_vza), over)
    if event is not None:
        version = await sql.stream_version(conn, staff_member_id)
        await store.append(staff_member_id, [ctx.wrap(event, source=SOURCE)], version, conn=conn)
    return event


async def record(conn: asyncpg.Connection, env: Envelope) -> set[str]:
    """Apply one case event to the caseload tables; returns the staff members whose load may have changed."""
    event = env.event or parse(env.type, env.schema_version, env.data)  # the runtime's consumers set env.event
    case_id = event.case_id
    if env.type in STATUS_AFTER:
        return await sql.set_status(conn, case_id, STATUS_AFTER[env.type])
    if env.type == cev.CaseOpened.event_type:
        return await sql.set_manager(conn, case_id, event.case_manager_id, env.time, municipality=event.municipality,
                                     baustein=event.baustein.value, status="open", team=event.team_organisation_id)
    if env.type == cev.CaseTransferred.event_type:
        return await sql.set_manager(conn, case_id, event.case_manager_id, env.time, municipality=event.municipality,
                                     team=event.team_organisation_id)
    return await sql.set_manager(conn, case_id, event.staff_member_id, env.time)  # CaseManagerAssigned


class CaseloadPolicy:
    """A runtime consumer Handler."""

    name = "caseload"

    def __init__(self, store: EventStore, limit_per_vza: int):
        self.store, self.limit_per_vza = store, limit_per_vza  # appends run on the consumer's connection
        self.topics = (service_topic("cases"), service_topic("staffing"))

    event_types = CASE_EVENTS  # the runtime passes over (and counts) the other types

    async def handle(self, conn: asyncpg.Connection, env: Envelope) -> None:
        touched = await record(conn, env)
        ctx = CommandContext.following(env, actor=SERVICE_ACTOR)
        for staff_member_id in sorted(touched):
            await reevaluate(conn, self.store, staff_member_id, limit_per_vza=self.limit_per_vza, ctx=ctx, at=env.time)
