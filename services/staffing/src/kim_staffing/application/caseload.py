"""The caseload policy: follow which cases each case manager carries and announce limit crossings.

A process manager (kim_runtime.projection.ProcessManager) named `caseload`, with its tables in its own schema. Live,
fed by kim.cases (CaseOpened, CaseTransferred, CasePaused, CaseResumed, CaseClosed) and by this service's own
CaseManagerAssigned: each record is handled once (the runtime's inbox), in one transaction with the limit event it
may append, so a crossing is announced exactly once even when Kafka redelivers. The commands that change a load
(assigning a manager, filling or vacating a position) recount in their own transaction the same way.

Rebuilt like any projection (`kim replay caseload`): the case events give the cases and their managers, the
positions' PositionFilled/PositionVacated name the staff members the commands recounted, and the policy's own
CaseloadLimitExceeded/CaseloadBackWithinLimit give what was announced. A rebuild recounts and never announces, so it
appends nothing.

A staff member's VZÄ share is counted as of a day taken from the events, never from the clock: the county's day
(Europe/Berlin) of the latest event that touched them (its envelope's time), kept in `caseloads.vza_share_on`. Live
and a rebuild therefore count on the same day, whatever day the rebuild runs and in whatever order it reads the two
topics: a share that changed by the calendar alone (an occupancy's start or end day passed, no event since) stays as
it was counted until the next event of theirs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg
from kim_runtime.commands import CommandContext
from kim_runtime.dispatch import by_type
from kim_runtime.envelope import Envelope
from kim_runtime.projection import ProcessManager
from kim_runtime.scheduler import local_day
from kim_runtime.store import EventStore
from kim_runtime.topics import service_topic
from kim_schemas import cases as cev
from kim_schemas.base import parse
from kim_schemas.staffing import (
    CaseloadBackWithinLimit,
    CaseloadLimitExceeded,
    CaseManagerAssigned,
    PositionFilled,
    PositionVacated,
)

from ..adapters import caseload_sql as sql
from ..adapters.events import SERVICE_ACTOR, SOURCE
from ..adapters.staffing_sql import staff_share
from ..domain.caseload import FULL_TIME, Caseload, limit_for

CASE_EVENTS = (cev.CaseOpened, cev.CaseTransferred, cev.CasePaused, cev.CaseResumed, cev.CaseClosed,
               CaseManagerAssigned)
STATUS_AFTER = by_type({cev.CasePaused: "paused", cev.CaseResumed: "open", cev.CaseClosed: "closed"})
ANNOUNCED = (CaseloadLimitExceeded, CaseloadBackWithinLimit)
OCCUPANCY = (PositionFilled, PositionVacated)


async def reevaluate(conn: asyncpg.Connection, store: EventStore | None, staff_member_id: str, *, limit_per_vza: int,
                     ctx: CommandContext | None, at: datetime, schema: str = sql.LIVE):
    """Recount a staff member's active cases and, given a context (live), append a limit event if they crossed the
    limit. Without one (a rebuild) it recounts only: what was announced stays as the limit events said.

    `at`: the time of the event that touched them (live: the event handled or appended; a rebuild: the latest of the
    batch's); the share is counted on the later of its day and the day already counted on (see the module's doc)."""
    state = await sql.lock_caseload(conn, staff_member_id, schema=schema)
    active = await sql.active_cases(conn, staff_member_id, schema=schema)
    day = local_day(at) if state["vza_share_on"] is None else max(state["vza_share_on"], local_day(at))
    share = await staff_share(conn, staff_member_id, day)
    share = FULL_TIME if share is None else share  # not (yet) known to staffing as filling a position
    caseload = Caseload(staff_member_id, active, share, state["over_limit"])
    event = caseload.check(limit_per_vza, at) if ctx is not None else None
    over = state["over_limit"] if event is None else isinstance(event, CaseloadLimitExceeded)
    await sql.save_caseload(conn, staff_member_id, active, share, day, limit_for(share, limit_per_vza), over,
                            schema=schema)
    if event is not None:
        version = await sql.stream_version(conn, staff_member_id)
        await store.append(staff_member_id, [ctx.wrap(event, source=SOURCE)], version, conn=conn)
    return event


async def record(conn: asyncpg.Connection, env: Envelope, schema: str = sql.LIVE) -> set[str]:
    """Apply one case event to the caseload tables; returns the staff members whose load may have changed."""
    event = env.event or parse(env.type, env.schema_version, env.data)  # the runtime's consumers set env.event
    case_id = event.case_id
    if env.type in STATUS_AFTER:
        return await sql.set_status(conn, case_id, STATUS_AFTER[env.type], schema=schema)
    if isinstance(event, cev.CaseOpened):
        return await sql.set_manager(conn, case_id, event.case_manager_id, env.time, municipality=event.municipality,
                                     baustein=event.baustein.value, status="open", team=event.team_organisation_id,
                                     schema=schema)
    if isinstance(event, cev.CaseTransferred):
        return await sql.set_manager(conn, case_id, event.case_manager_id, env.time, municipality=event.municipality,
                                     team=event.team_organisation_id, schema=schema)
    return await sql.set_manager(conn, case_id, event.staff_member_id, env.time, schema=schema)  # CaseManagerAssigned


class CaseloadPolicy(ProcessManager):
    """`store`: where live decisions are appended (None: a policy only rebuilt, e.g. by `kim replay`);
    `limit_per_vza`: KIM_CASELOAD_LIMIT_PER_VZA (None: read from the staffing settings when first needed)."""

    name = "caseload"
    topics = (service_topic("cases"), service_topic("staffing"))
    event_types = CASE_EVENTS  # live; a rebuild also takes ANNOUNCED and OCCUPANCY (see the module's doc)
    ddl = """
    CREATE TABLE IF NOT EXISTS {schema}.caseload_cases (
        case_id text PRIMARY KEY, staff_member_id text, municipality text, baustein text,
        status text NOT NULL DEFAULT 'unknown',   -- open | paused | closed | unknown (only an assignment seen yet)
        manager_since timestamptz,                -- time of the event that named the manager; later one wins
        updated_at timestamptz NOT NULL DEFAULT now(),
        team_organisation_id text);               -- the team, so staffing scopes a case like the cases service
    CREATE INDEX IF NOT EXISTS caseload_cases_staff ON {schema}.caseload_cases (staff_member_id, status);
    CREATE TABLE IF NOT EXISTS {schema}.caseloads (
        staff_member_id text PRIMARY KEY, active_cases int NOT NULL DEFAULT 0, vza_share numeric NOT NULL DEFAULT 1,
        case_limit int NOT NULL DEFAULT 0,
        over_limit boolean NOT NULL DEFAULT false,  -- what the last limit event announced
        updated_at timestamptz NOT NULL DEFAULT now(),
        vza_share_on date);                         -- the day vza_share was counted for (the module's doc)
    ALTER TABLE {schema}.caseloads ADD COLUMN IF NOT EXISTS vza_share_on date;
    """

    def __init__(self, store: EventStore | None = None, limit_per_vza: int | None = None):
        self.store, self._limit = store, limit_per_vza

    @property
    def limit_per_vza(self) -> int:
        if self._limit is None:
            from ..settings import StaffingSettings
            self._limit = StaffingSettings().caseload_limit_per_vza
        return self._limit

    async def apply(self, conn: asyncpg.Connection, schema: str, env: Envelope) -> set[str]:
        """The tables' change; returns the staff members whose load may have changed."""
        event = env.event
        if isinstance(event, ANNOUNCED):
            await sql.set_announced(conn, event.staff_member_id, isinstance(event, CaseloadLimitExceeded),
                                    schema=schema)
            return set()
        if isinstance(event, OCCUPANCY):
            return {event.staff_member_id}
        if isinstance(event, CASE_EVENTS):
            return await record(conn, env, schema)
        return set()

    async def react(self, conn: asyncpg.Connection, schema: str, env: Envelope, touched: set[str]) -> None:
        ctx = CommandContext.following(env, actor=SERVICE_ACTOR)
        for staff_member_id in sorted(touched):
            await reevaluate(conn, self.store, staff_member_id, limit_per_vza=self.limit_per_vza, ctx=ctx,
                             at=env.time, schema=schema)

    async def apply_batch(self, conn: asyncpg.Connection, schema: str, envelopes: Sequence[Envelope]) -> None:
        """A rebuild's: the batch's changes, then one recount (no announcement) per staff member they touched, as
        of the latest of the events that touched them (live recounted at each; the last one's day stands)."""
        touched: dict[str, datetime] = {}
        for env in envelopes:
            for staff_member_id in await self.apply(conn, schema, env):
                touched[staff_member_id] = max(touched.get(staff_member_id, env.time), env.time)
        for staff_member_id, at in sorted(touched.items()):
            await reevaluate(conn, None, staff_member_id, limit_per_vza=self.limit_per_vza, ctx=None, at=at,
                             schema=schema)

    async def create_schema(self, conn: asyncpg.Connection, schema: str | None = None) -> None:
        """The schema and tables; the first time the live ones are made, the rows of the tables the service kept
        in `public` before the policy was a projection move over (those tables stay, empty and unused)."""
        await super().create_schema(conn, schema)
        legacy = ("SELECT to_regclass('public.caseload_cases') IS NOT NULL "
                  "AND to_regclass('public.caseloads') IS NOT NULL")
        if (schema or self.name) != self.name or not await conn.fetchval(legacy) or not await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM public.caseload_cases) OR EXISTS (SELECT 1 FROM public.caseloads)"):
            return
        await conn.execute(
            f"INSERT INTO {sql.LIVE}.caseload_cases (case_id, staff_member_id, municipality, baustein, status, "
            "manager_since, updated_at, team_organisation_id) SELECT case_id, staff_member_id, municipality, baustein, "
            "status, manager_since, updated_at, team_organisation_id FROM public.caseload_cases ON CONFLICT DO NOTHING")
        await conn.execute(f"INSERT INTO {sql.LIVE}.caseloads (staff_member_id, active_cases, vza_share, case_limit, "
                           "over_limit, updated_at) SELECT staff_member_id, active_cases, vza_share, case_limit, "
                           "over_limit, updated_at FROM public.caseloads ON CONFLICT DO NOTHING")
        await conn.execute("DELETE FROM public.caseload_cases; DELETE FROM public.caseloads")
