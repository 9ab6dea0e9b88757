"""Service-layer tests of the staffing command handlers on the in-memory store (kim_runtime.memory): no database, no
Kafka. The handlers also write the service's read model and caseload tables in the same transaction; those
adapters (`staffing_sql`, `caseload_sql`) have no port yet, so here `Tables` stands in for them, holding what the SQL
would hold. What is tested is the handler: load (refusing an id another kind of stream uses), check the version,
decide, admit against the grant's loads, append, and the caseload re-check that may append a limit event.
(Unlike the tables, `Tables` does not roll back with a failed transaction: the tests assert on the events.)"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from kim_runtime.errors import ConcurrencyConflict, NotFound, RuleViolation
from kim_runtime.memory import InMemoryEventStore
from kim_schemas.codes import Baustein
from kim_schemas.staffing import FundingSource, VacancyReason

from kim_runtime.contract import default_contract, validate
from kim_runtime.envelope import Envelope
from kim_runtime.projection import ProjectionHandler
from kim_runtime.scheduler import LOCAL_TIME
from kim_schemas import cases as cev
from kim_staffing.adapters import caseload_sql, staffing_sql
from kim_staffing.application.caseload import CaseloadPolicy
from kim_runtime.commands import CommandContext
from kim_staffing.application import caseload
from kim_staffing.application import commands as c
from kim_staffing.application.assignments import CaseManagers
from kim_staffing.application.handlers import Staffing
from kim_staffing.domain.timeline import Span

LIMIT_PER_VZA = 40
CTX = CommandContext(actor="lead-1", correlation_id="corr-1", causation_id="cmd-1")
FROM = date(2025, 1, 1)


class Tables:
    """The read model and caseload tables, as the SQL adapters keep them."""

    def __init__(self, store: InMemoryEventStore):
        self.store = store
        self.grants: dict[str, int] = {}  # grant id -> version saved
        self.positions: dict = {}
        self.cases: dict[str, dict] = {}
        self.caseloads: dict[str, dict] = {}
        self.counted_on: dict[str, date] = {}  # caseloads.vza_share_on
        self.saves = 0

    # staffing_sql
    async def lock(self, conn, name):
        return None

    async def save_grant(self, conn, grant):
        self.grants[grant.grant_id] = grant.version

    async def save_position(self, conn, p):
        self.positions[p.position_id] = p

    async def grant_loads(self, conn, grant_id):
        return [(Span.inclusive(p.funded_from, p.established.valid_to), p.vza)
                for p in self.positions.values() if p.grant_id == grant_id]

    async def staff_share(self, conn, staff_member_id, day):
        shares = [o.share for p in self.positions.values() for o in p.occupancies
                  if o.staff_member_id == staff_member_id and o.span.contains(day)]
        return sum(shares, Decimal(0)) if shares else None

    # caseload_sql
    async def case(self, conn, case_id, **_):
        return self.cases.get(case_id)

    async def set_manager(self, conn, case_id, staff_member_id, since, *, status=None, **_):
        case = self.cases.setdefault(case_id, {"staff_member_id": None, "status": "unknown"})
        before, case["staff_member_id"] = case["staff_member_id"], staff_member_id
        case["status"] = status if status and case["status"] != "closed" else case["status"]
        return {s for s in (before, staff_member_id) if s}

    async def set_status(self, conn, case_id, status, **_):
        case = self.cases.setdefault(case_id, {"staff_member_id": None, "status": "unknown"})
        case["status"] = case["status"] if case["status"] == "closed" else status
        return {case["staff_member_id"]} if case["staff_member_id"] else set()

    async def set_announced(self, conn, staff_member_id, over, **_):
        self.caseloads.setdefault(staff_member_id, {"over_limit": False})["over_limit"] = over

    async def hold_live(self, conn):
        return None

    async def lock_caseload(self, conn, staff_member_id, **_):
        row = self.caseloads.setdefault(staff_member_id, {"over_limit": False})
        return {**row, "vza_share_on": self.counted_on.get(staff_member_id)}

    async def active_cases(self, conn, staff_member_id, **_):
        return sum(1 for x in self.cases.values() if x["staff_member_id"] == staff_member_id and x["status"] == "open")

    async def save_caseload(self, conn, staff_member_id, active, share, share_on, limit, over, **_):
        self.caseloads[staff_member_id] = {"over_limit": over, "active_cases": active, "limit": limit}
        self.counted_on[staff_member_id] = share_on
        self.saves += 1

    async def stream_version(self, conn, stream_id):
        return await self.store.stream_version(stream_id, conn)

    def open_cases(self, staff_member_id: str, n: int, municipality: str = "05978024") -> None:
        for i in range(n):
            self.cases[f"case-{staff_member_id}-{i}"] = {"staff_member_id": staff_member_id, "status": "open",
                                                        "municipality": municipality}


@pytest.fixture
def store():
    return InMemoryEventStore("kim.staffing")


@pytest.fixture
def tables(store, monkeypatch) -> Tables:
    t = Tables(store)
    for name in ("lock", "save_grant", "save_position", "grant_loads"):
        monkeypatch.setattr(staffing_sql, name, getattr(t, name))
    for name in ("case", "set_manager", "set_status", "set_announced", "hold_live", "lock_caseload", "active_cases",
                 "save_caseload", "stream_version"):
        monkeypatch.setattr(caseload_sql, name, getattr(t, name))
    monkeypatch.setattr(caseload, "staff_share", t.staff_share)
    return t


@pytest.fixture
def staffing(store, tables) -> Staffing:
    return Staffing(store, limit_per_vza=LIMIT_PER_VZA)


def award(grant_id="g-1", vza="2.0") -> c.AwardGrant:
    return c.AwardGrant(grant_id=grant_id, baustein=Baustein.CASE_MANAGEMENT, period_from=FROM,
                        period_to=date(2025, 12, 31), vza=Decimal(vza), rate_per_vza=Decimal("56000.00"))


def establish(position_id="p-1", vza="1.0", grant_id=None, **over) -> c.EstablishPosition:
    return c.EstablishPosition(**{
        "position_id": position_id, "baustein": Baustein.CASE_MANAGEMENT, "vza": Decimal(vza),
        "host_organisation_id": "stadt-luenen", "municipality": "05978024",
        "funding_source": FundingSource.KIM_GRANT if grant_id else FundingSource.MUNICIPALITY,
        "grant_id": grant_id, "valid_from": FROM} | over)


async def types(store, stream) -> list[str]:
    return [e.type.rsplit(".", 1)[1] for e in await store.read_stream(stream)]


# -- grants ----------------------------------------------------------------------------------------------------------
async def test_award_grant_appends_it_and_saves_its_row(staffing, store, tables):
    grant = await staffing.award_grant(CTX, award())
    [env] = await store.read_stream("g-1")
    assert env.type == "kim.staffing.GrantAwarded" and grant.version == 1 and tables.grants == {"g-1": 1}
    assert (env.actor, env.correlation_id, env.causation_id, env.source) == ("lead-1", "corr-1", "cmd-1",
                                                                             "/kim/staffing")
    assert [o.position for o in store.outbox] == [r.position async for r in store.read_all()]


async def test_a_grant_is_awarded_once(staffing, store):
    await staffing.award_grant(CTX, award())
    with pytest.raises(RuleViolation, match="exists already"):
        await staffing.award_grant(CTX, award())
    assert await types(store, "g-1") == ["GrantAwarded"]


async def test_an_id_another_kind_of_stream_uses_is_refused(staffing, store):
    await staffing.establish_position(CTX, establish("x-1"))
    with pytest.raises(RuleViolation, match="already used by a PositionEstablished stream"):
        await staffing.award_grant(CTX, award("x-1"))


# -- positions -------------------------------------------------------------------------------------------------------
async def test_establish_a_municipal_position(staffing, store, tables):
    position = await staffing.establish_position(CTX, establish())
    [env] = await store.read_stream("p-1")
    assert env.type == "kim.staffing.PositionEstablished" and env.municipality == "05978024"
    assert position.version == 1 and tables.positions["p-1"] is position and position.grant_id is None


async def test_positions_of_a_grant_are_admitted_up_to_its_vza(staffing, store):
    await staffing.award_grant(CTX, award(vza="1.5"))
    await staffing.establish_position(CTX, establish("p-1", "1.0", "g-1"))
    with pytest.raises(RuleViolation, match="at most 0.5 VZÄ are free"):
        await staffing.establish_position(CTX, establish("p-2", "1.0", "g-1"))
    assert await store.read_stream("p-2") == []
    await staffing.establish_position(CTX, establish("p-2", "0.5", "g-1"))
    assert await types(store, "p-2") == ["PositionEstablished"]


async def test_a_position_of_an_unknown_grant_is_not_found(staffing, store):
    with pytest.raises(NotFound, match="grant g-9 not found"):
        await staffing.establish_position(CTX, establish(grant_id="g-9"))
    assert store.outbox == []


async def test_transfer_a_position_onto_a_grant(staffing, store, tables):
    await staffing.award_grant(CTX, award())
    await staffing.establish_position(CTX, establish())
    position = await staffing.transfer_position(CTX, "p-1", c.TransferPosition(
        from_programme="Integration Point", grant_id="g-1", transferred_on=date(2025, 4, 1)), seen=1)
    assert position.grant_id == "g-1" and position.funded_from == date(2025, 4, 1)
    assert await types(store, "p-1") == ["PositionEstablished", "PositionTransferred"]
    assert await tables.grant_loads(None, "g-1") == [(Span.inclusive(date(2025, 4, 1), None), Decimal("1.0"))]


async def test_a_transfer_at_a_stale_version_is_refused(staffing, store):
    await staffing.award_grant(CTX, award())
    await staffing.establish_position(CTX, establish())
    with pytest.raises(ConcurrencyConflict):
        await staffing.transfer_position(CTX, "p-1", c.TransferPosition(
            from_programme="Integration Point", grant_id="g-1", transferred_on=date(2025, 4, 1)), seen=0)
    assert await types(store, "p-1") == ["PositionEstablished"]


async def test_fill_a_position(staffing, store, tables):
    await staffing.establish_position(CTX, establish())
    position = await staffing.fill_position(CTX, "p-1", c.FillPosition(
        staff_member_id="staff-1", vza_share=Decimal("1.0"), filled_on=FROM), seen=1)
    assert position.filled_on(date(2025, 2, 1)) == Decimal("1.0")
    assert await types(store, "p-1") == ["PositionEstablished", "PositionFilled"]
    assert tables.caseloads["staff-1"] == {"over_limit": False, "active_cases": 0, "limit": LIMIT_PER_VZA}


async def test_filling_an_unknown_position_is_not_found(staffing):
    with pytest.raises(NotFound, match="position p-9 not found"):
        await staffing.fill_position(CTX, "p-9", c.FillPosition(staff_member_id="staff-1", vza_share=Decimal("1"),
                                                                filled_on=FROM), seen=None)


async def test_a_smaller_share_puts_a_case_manager_over_their_limit_once(staffing, store, tables):
    """30 open cases: within a full-time limit of 40; filling half a position (limit 20) crosses it."""
    tables.open_cases("staff-1", 30)
    await staffing.establish_position(CTX, establish())
    await staffing.fill_position(CTX, "p-1", c.FillPosition(staff_member_id="staff-1", vza_share=Decimal("0.5"),
                                                            filled_on=date(2025, 1, 1)), seen=None)
    [limit] = await store.read_stream("staff-1")
    assert limit.type == "kim.staffing.CaseloadLimitExceeded"
    assert (limit.data["active_cases"], limit.data["limit"]) == (30, 20)
    assert limit.causation_id == "cmd-1" and tables.caseloads["staff-1"]["over_limit"]


async def test_vacating_brings_the_case_manager_back_within_the_limit(staffing, store, tables):
    tables.open_cases("staff-1", 30)
    await staffing.establish_position(CTX, establish())
    await staffing.fill_position(CTX, "p-1", c.FillPosition(staff_member_id="staff-1", vza_share=Decimal("0.5"),
                                                            filled_on=date(2025, 1, 1)), seen=None)
    await staffing.vacate_position(CTX, "p-1", c.VacatePosition(
        staff_member_id="staff-1", vacated_on=date(2025, 1, 2), reason=VacancyReason.RESIGNATION), seen=2)
    assert await types(store, "p-1") == ["PositionEstablished", "PositionFilled", "PositionVacated"]
    assert await types(store, "staff-1") == ["CaseloadLimitExceeded", "CaseloadBackWithinLimit"]


async def test_vacating_what_is_not_held_is_refused(staffing, store):
    await staffing.establish_position(CTX, establish())
    with pytest.raises(RuleViolation, match="does not fill"):
        await staffing.vacate_position(CTX, "p-1", c.VacatePosition(
            staff_member_id="staff-2", vacated_on=date(2025, 3, 1), reason=VacancyReason.RESIGNATION), seen=None)
    assert await types(store, "p-1") == ["PositionEstablished"]


# -- case manager assignment -----------------------------------------------------------------------------------------
@pytest.fixture
def managers(store, tables) -> CaseManagers:
    return CaseManagers(store, limit_per_vza=LIMIT_PER_VZA)


async def test_assigning_a_case_manager_moves_the_case_between_caseloads(managers, store, tables):
    tables.cases["case-1"] = {"staff_member_id": "staff-1", "status": "open", "municipality": "05978024"}
    assignment = await managers.assign(CTX, "case-1", c.AssignCaseManager(staff_member_id="staff-2",
                                                                          assigned_on=date(2025, 3, 1)), seen=0)
    [env] = await store.read_stream("case-1")
    assert env.type == "kim.staffing.CaseManagerAssigned" and env.municipality == "05978024"
    assert assignment.version == 1 and tables.cases["case-1"]["staff_member_id"] == "staff-2"
    assert {k: v["active_cases"] for k, v in tables.caseloads.items()} == {"staff-1": 0, "staff-2": 1}


async def test_a_case_staffing_has_not_heard_of_is_not_found(managers, store):
    with pytest.raises(NotFound, match="not known to staffing"):
        await managers.assign(CTX, "case-9", c.AssignCaseManager(staff_member_id="staff-2"), seen=None)
    assert store.outbox == []


async def test_an_assignment_at_a_stale_version_is_refused(managers, store, tables):
    tables.cases["case-1"] = {"staff_member_id": "staff-1", "status": "open", "municipality": "05978024"}
    await managers.assign(CTX, "case-1", c.AssignCaseManager(staff_member_id="staff-2",
                                                             assigned_on=date(2025, 3, 1)), seen=None)
    with pytest.raises(ConcurrencyConflict):
        await managers.assign(CTX, "case-1", c.AssignCaseManager(staff_member_id="staff-3",
                                                                 assigned_on=date(2025, 3, 2)), seen=0)
    assert await types(store, "case-1") == ["CaseManagerAssigned"]


# -- the caseload policy (a process manager: kim_runtime.projection.ProcessManager) ----------------------------------
def case_event(event, n: int) -> Envelope:
    """An envelope of kim.cases as the runtime's consumer hands it over (read through the contract)."""
    env = Envelope.wrap(event, source="/kim/cases", actor="cm-1", correlation_id=f"corr-{n}", causation_id=f"c-{n}")
    return validate(env, default_contract())


def opened(case_id: str, manager: str, n: int) -> Envelope:
    return case_event(cev.CaseOpened(case_id=case_id, client_id=f"client-{case_id}", municipality="05978024",
                                     baustein="2", team="kreis", team_organisation_id="kreis-unna",
                                     case_manager_id=manager, access_channel="selbstmeldung",
                                     opened_on=date(2025, 3, 1)), n)


async def handled(store, policy, *envelopes) -> None:
    """Live: what the consumer does per event, in its transaction (apply, then react)."""
    handler = ProjectionHandler(policy)
    for env in envelopes:
        async with store.pool.acquire() as conn, conn.transaction():
            await handler.handle(conn, env)


async def test_live_the_policy_announces_a_crossing_once_caused_by_the_case_event(store, tables):
    policy = CaseloadPolicy(store, limit_per_vza=2)
    events = [opened(f"case-{i}", "staff-1", i) for i in range(4)]
    await handled(store, policy, *events)
    [limit] = await store.read_stream("staff-1")
    assert limit.type == "kim.staffing.CaseloadLimitExceeded" and limit.data["active_cases"] == 3
    assert (limit.causation_id, limit.correlation_id) == (events[2].id, "corr-2")  # the third case crossed it
    assert tables.caseloads["staff-1"] == {"over_limit": True, "active_cases": 4, "limit": 2}
    for n, case_id in ((9, "case-0"), (10, "case-1")):
        await handled(store, policy, case_event(cev.CaseClosed(
            case_id=case_id, reason="regeldienste", closed_on=date(2025, 4, 1), goals_agreed=0, goals_achieved=0,
            duration_days=31), n))
    assert await types(store, "staff-1") == ["CaseloadLimitExceeded", "CaseloadBackWithinLimit"]


async def test_a_rebuild_recounts_reads_what_was_announced_and_appends_nothing(store, tables):
    """The same history a rebuild reads: the case events and the policy's own limit event."""
    live = CaseloadPolicy(store, limit_per_vza=2)
    events = [opened(f"case-{i}", "staff-1", i) for i in range(3)]
    await handled(store, live, *events)
    [announced] = await store.read_stream("staff-1")
    positions = len(store.outbox)
    tables.cases.clear()
    tables.caseloads.clear()

    rebuilt = CaseloadPolicy(limit_per_vza=2)  # as kim replay builds it: no store, nothing to act with
    async with store.pool.acquire() as conn, conn.transaction():
        await rebuilt.apply_batch(conn, '"caseload__rebuild"', [*events, validate(announced, default_contract())])
    assert tables.caseloads["staff-1"] == {"over_limit": True, "active_cases": 3, "limit": 2}
    assert len(store.outbox) == positions and await types(store, "staff-1") == ["CaseloadLimitExceeded"]


async def test_a_rebuild_without_the_limit_event_would_not_say_over_the_limit(store, tables):
    """What was announced comes from the limit events only: a recount alone never announces (nor sets it)."""
    async with store.pool.acquire() as conn, conn.transaction():
        await CaseloadPolicy(limit_per_vza=2).apply_batch(conn, '"caseload__rebuild"',
                                                           [opened(f"case-{i}", "staff-1", i) for i in range(3)])
    assert tables.caseloads["staff-1"] == {"over_limit": False, "active_cases": 3, "limit": 2}
    assert store.outbox == []


async def test_live_and_a_rebuild_count_a_share_on_the_day_of_the_latest_event_not_the_clock(staffing, store, tables):
    """staff-1 fills half a position until a day in ten days (vacated ahead); a case of theirs opens in five days
    (half a VZÄ: limit 1) and one in twenty, after the share ended (full time: limit 2, so 2 cases are not over it).
    Counted on the clock's day the second case would cross half a VZÄ's limit. A rebuild, reading the same events
    in another order on any day, gives the same row."""
    now = datetime.now(UTC)
    await staffing.establish_position(CTX, establish())
    await staffing.fill_position(CTX, "p-1", c.FillPosition(staff_member_id="staff-1", vza_share=Decimal("0.5"),
                                                            filled_on=FROM), seen=1)
    await staffing.vacate_position(CTX, "p-1", c.VacatePosition(
        staff_member_id="staff-1", vacated_on=(now + timedelta(days=10)).date(), reason=VacancyReason.RESIGNATION),
        seen=2)
    policy = CaseloadPolicy(store, limit_per_vza=2)
    first, second = (opened(f"case-{n}", "staff-1", n).model_copy(update={"time": now + timedelta(days=days)})
                     for n, days in ((1, 5), (2, 20)))
    await handled(store, policy, first)
    assert tables.caseloads["staff-1"] == {"over_limit": False, "active_cases": 1, "limit": 1}
    assert tables.counted_on["staff-1"] == (now + timedelta(days=5)).astimezone(LOCAL_TIME).date()
    await handled(store, policy, second)
    live = dict(tables.caseloads), dict(tables.counted_on)
    assert live == ({"staff-1": {"over_limit": False, "active_cases": 2, "limit": 2}},
                    {"staff-1": (now + timedelta(days=20)).astimezone(LOCAL_TIME).date()})
    assert await types(store, "staff-1") == []  # nothing crossed

    occupancy = [validate(e, default_contract()) for e in (await store.read_stream("p-1"))[1:]]
    tables.cases.clear(), tables.caseloads.clear(), tables.counted_on.clear()
    async with store.pool.acquire() as conn, conn.transaction():
        await CaseloadPolicy(limit_per_vza=2).apply_batch(conn, '"caseload__rebuild"', [second, first])
        await CaseloadPolicy(limit_per_vza=2).apply_batch(conn, '"caseload__rebuild"', occupancy)
    assert (tables.caseloads, tables.counted_on) == live
