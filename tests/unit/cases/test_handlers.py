"""Service-layer tests of the cases command handlers on the in-memory store (kim_runtime.memory): no database, no
Kafka. Each command runs through the application layer as its route runs it (`cases.execute` with the route's
decision, built from the route's request body), so what is tested is load → check version → decide → append.

The service's own tables are ports given here in memory: the key store (`FakeKeys`), the access log and the client
registrations (`FakeRegistrations`: where a client was registered, and their cases found from the store's
CaseOpened events), so registering a client, opening a case and the retention deadline run here too."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from kim_runtime.auth import Principal, Role
from kim_runtime.errors import ConcurrencyConflict, NotFound, NotInScope, RuleViolation
from kim_runtime.memory import InMemoryEventStore
from kim_runtime.scheduler import Due, start_of
from kim_runtime.store import Write
from kim_schemas import cases as ev
from kim_schemas.case_codes import (
    ClosureReason, ConsentForm, GoalDropReason, LegalHoldReason, MilestoneKind, PauseReason, Perspective, TeamKind,
    WithdrawalScope,
)
from kim_schemas.codes import ConsentPurpose, DataCategory, ErasureGround, LifeDomain, Rechtskreis, ResidenceStatus
from kim_schemas.types import Encrypted

from kim_cases.adapters import crypto
from kim_cases.adapters.events import CommandContext
from kim_cases.application import cases, clients
from kim_cases.application.deadlines import CaseDeadlines, CaseFollowUps, plus_years
from kim_cases.application.repository import Repository
from kim_cases.application.services import Services
from kim_cases.domain import Case, Client
from kim_cases.entrypoints import requests as rq
from kim_cases.settings import CasesSettings

from .factory import opening

LEAD = Principal(sub="staff-1", role=Role.TEAM_LEAD, team="stadt-luenen", municipality="05978024")
CLIENT, CASE = "c-1", "case-1"
OPENED = date(2025, 1, 10)


class FakeKeys:
    """The key store's port: one data key per client, destroyed on erasure."""

    def __init__(self):
        self.keys: dict[str, tuple[str, bytes]] = {}

    async def create(self, conn, client_id: str) -> tuple[str, bytes]:
        self.keys[client_id] = (f"key-{client_id}", crypto.new_key())
        return self.keys[client_id]

    def new(self, client_id: str):
        """A key kept once the registration's append is made (store.Write.in_memory), as the real one's write."""
        key_id, key = f"key-{client_id}", crypto.new_key()
        return key_id, key, Write("", in_memory=lambda: self.keys.__setitem__(client_id, (key_id, key)))

    async def get(self, client_id: str, conn=None):
        return self.keys.get(client_id)

    async def exists(self, client_id: str) -> bool:
        return client_id in self.keys

    async def destroy(self, conn, client_id: str) -> bool:
        return self.keys.pop(client_id, None) is not None


class FakeRegistrations:
    """The registrations' port: the registering place per client; a client's cases from the store's CaseOpened."""

    def __init__(self, store: InMemoryEventStore):
        self.store, self.places, self.erasure_requests = store, {}, {}

    async def record(self, conn, client_id: str, principal) -> None:
        self.places[client_id] = (principal.municipality, principal.team)

    def recording(self, client_id: str, principal):
        return Write("", in_memory=lambda: self.places.__setitem__(client_id, (principal.municipality, principal.team)))

    async def place(self, client_id: str):
        return self.places.get(client_id)

    async def place_and_case_ids(self, client_id: str):
        return await self.place(client_id), await self.case_ids_of(client_id)

    async def record_erasure_request(self, conn, client_id: str, reference: str) -> None:
        assert client_id not in self.erasure_requests, "one erasure per client"
        self.erasure_requests[client_id] = reference

    async def erasure_request(self, client_id: str):
        return self.erasure_requests.get(client_id)

    async def case_ids_of(self, client_id: str, conn=None) -> list[str]:
        return [r.envelope.stream_id async for r in self.store.read_all()
                if r.envelope.type == ev.CaseOpened.event_type and r.envelope.data["client_id"] == client_id]


class FakeAccessLog:
    def __init__(self):
        self.records: list[tuple] = []

    async def record(self, principal, client_id, fields, via, correlation_id=None) -> None:
        self.records.append((principal.sub, client_id, tuple(fields), via))


@pytest.fixture
def store():
    return InMemoryEventStore("kim.cases", schedule=CaseDeadlines(CasesSettings(_env_file=None)))


@pytest.fixture
def ctx():
    return CommandContext(actor=LEAD.sub, principal=LEAD, correlation_id="corr-1", causation_id="cmd-1")


@pytest.fixture
async def s(store, ctx) -> Services:
    services = Services(store.pool, store, FakeKeys(), FakeAccessLog(), Repository(store), FakeRegistrations(store))
    key_id, key = await services.keys.create(None, CLIENT)
    personal = crypto.encrypt(key, key_id, CLIENT, {"name": "Amina Haddad"})
    profile = crypto.encrypt(key, key_id, CLIENT, {"birth_year": 1990, "languages": ["ar"], "arrival_year": 2016})
    await services.repo.append(CLIENT, 0, Client(CLIENT).register(personal, profile),
                               ctx, subject=CLIENT, municipality="05978024")
    await services.repo.append(CASE, 0, Case(CASE).open(**opening(client_id=CLIENT, opened_on=OPENED)), ctx,
                               subject=CLIENT, municipality="05978024")
    return services


# -- the route's decisions, from the route's request bodies ----------------------------------------------------------
def consent_body(**over) -> rq.GrantConsent:
    return rq.GrantConsent(**{"recipients": ["abh-unna"], "purposes": [ConsentPurpose.SECURE_RESIDENCE],
                              "data_categories": [DataCategory.RESIDENCE], "form": ConsentForm.WRITTEN,
                              "informed_in": "ar", "granted_on": OPENED} | over)


def grant(consent_id: str = "k-1", **over):
    return lambda c: c.grant_consent(consent_id=consent_id, recorded_by=LEAD.sub, **consent_body(**over).model_dump())


def assess(c: Case):
    body = rq.CompleteAssessment(assessed_on=date(2025, 2, 1), rechtskreis=Rechtskreis.ASYLBLG,
                                 domains=[ev.DomainAssessment(domain=LifeDomain.LANGUAGE, need="hoch",
                                                              resources="gering")])
    return c.complete_assessment(assessed_on=body.assessed_on, domains=body.domains, rechtskreis=body.rechtskreis)


def plan(goal_ids=("g-1",)):
    body = rq.AgreePlan(agreed_on=date(2025, 2, 10), goals=[
        {"goal_id": g, "domain": LifeDomain.LANGUAGE, "target_date": date(2025, 12, 1),
         "responsible_organisation_id": "vhs-unna"} for g in goal_ids])
    return lambda c: c.agree_plan(plan_id="p-1", goals=body.goals, agreed_on=body.agreed_on)


def review(s: Services, *, notes: str | None = "talked about the language course", next_review_on=None):
    async def decide(c: Case):
        return c.hold_review(review_id="r-1", held_on=date(2025, 3, 1), notes=await cases.seal_notes(s, c, notes),
                             next_review_on=next_review_on)
    return decide


def residence(s: Services):
    body = rq.RecordResidenceStatus(status=list(ResidenceStatus)[0], status_since=date(2024, 5, 1),
                                    valid_until=date(2026, 5, 1), perspective=list(Perspective)[0],
                                    recorded_on=date(2025, 2, 1))

    async def decide(c: Case):
        dates = await cases.seal(s, c, {"status_since": body.status_since.isoformat(),
                                        "valid_until": body.valid_until.isoformat()}, "a residence status")
        return c.record_residence_status(**body.model_dump(), dates=dates)
    return decide


def pause(expected_resume_on=date(2025, 4, 1)):
    return lambda c: c.pause(**rq.PauseCase(reason=list(PauseReason)[0], paused_on=date(2025, 3, 1),
                                            expected_resume_on=expected_resume_on).model_dump())


def close(c: Case):
    return c.close(**rq.CloseCase(reason=ClosureReason.MOVED_AWAY, closed_on=date(2025, 6, 1)).model_dump())


async def run(s, ctx, *decisions, expected=None) -> tuple[Case, int]:
    for decide in decisions:
        case, version = await cases.execute(s, ctx, CASE, expected, decide)
    return case, version


async def types(store, stream=CASE) -> list[str]:
    return [e.type.rsplit(".", 1)[1] for e in await store.read_stream(stream)]


# -- cases.execute: load, check the version, decide, append ----------------------------------------------------------
async def test_a_command_appends_its_event_with_the_requests_metadata(s, store, ctx):
    case, version = await run(s, ctx, grant())
    assert version == 2 and case.version == 2 and "k-1" in case.consents
    last = (await store.read_stream(CASE))[-1]
    assert last.type == "kim.cases.ConsentGranted"
    assert (last.actor, last.correlation_id, last.causation_id) == (LEAD.sub, "corr-1", "cmd-1")
    assert (last.subject, last.municipality, last.source) == (CLIENT, "05978024", "/kim/cases")
    assert [o.position for o in store.outbox][-1] == [r.position async for r in store.read_all()][-1]


async def test_the_version_the_caller_saw_must_still_be_the_streams(s, store, ctx):
    await run(s, ctx, grant())
    with pytest.raises(ConcurrencyConflict) as info:
        await run(s, ctx, assess, expected=1)
    assert (info.value.expected, info.value.actual) == (1, 2)
    assert await types(store) == ["CaseOpened", "ConsentGranted"]
    _, version = await run(s, ctx, assess, expected=2)
    assert version == 3


async def test_without_if_match_an_event_appended_meanwhile_makes_it_decide_again(s, store, ctx):
    await run(s, ctx, grant())
    calls = []

    async def decide(c: Case):
        calls.append(c.version)
        if len(calls) == 1:  # another writer appends to the case between this load and this append
            await s.repo.append(CASE, c.version, c.record_milestone(milestone=MilestoneKind.HOUSING_FOUND,
                                                                    reached_on=date(2025, 2, 1)),
                                ctx, subject=CLIENT, municipality="05978024")
        return assess(c)

    case, version = await cases.execute(s, ctx, CASE, None, decide)
    assert calls == [2, 3] and version == 4 and case.version == 4
    assert await types(store) == ["CaseOpened", "ConsentGranted", "MilestoneRecorded", "AssessmentCompleted"]


async def test_without_if_match_it_gives_up_after_three_conflicts(s, store, ctx):
    async def always_overtaken(c: Case):
        await s.repo.append(CASE, c.version, c.record_milestone(milestone=MilestoneKind.HOUSING_FOUND,
                                                                reached_on=date(2025, 2, 1)),
                            ctx, subject=CLIENT, municipality="05978024")
        return c.record_milestone(milestone=MilestoneKind.HOUSING_FOUND, reached_on=date(2025, 2, 2))

    with pytest.raises(ConcurrencyConflict):
        await cases.execute(s, ctx, CASE, None, always_overtaken)
    assert await types(store) == ["CaseOpened"] + ["MilestoneRecorded"] * cases.UNPINNED_ATTEMPTS


async def test_an_unknown_case_is_not_found(s, ctx):
    with pytest.raises(NotFound, match="no case nope"):
        await cases.execute(s, ctx, "nope", None, close)


async def test_a_broken_rule_appends_nothing(s, store, ctx):
    with pytest.raises(RuleViolation, match="consent"):
        await run(s, ctx, assess)
    assert await types(store) == ["CaseOpened"]
    assert len(store.outbox) == 2  # the client's and the case's first events only


# -- consent ---------------------------------------------------------------------------------------------------------
async def test_grant_consent_with_an_end_sets_its_expiry_deadline(s, store, ctx):
    await run(s, ctx, grant(valid_until=date(2025, 12, 31)))
    assert store.deadlines["consent-expiry:k-1"]["due_at"] == start_of(date(2026, 1, 1)).isoformat()


async def test_withdraw_consent_entirely_cancels_its_expiry(s, store, ctx):
    body = rq.WithdrawConsent(scope=WithdrawalScope.ALL)
    case, _ = await run(s, ctx, grant(valid_until=date(2025, 12, 31)), lambda c: c.withdraw_consent(
        consent_id="k-1", effective_at=datetime(2025, 3, 1, tzinfo=UTC), **body.model_dump()))
    assert await types(store) == ["CaseOpened", "ConsentGranted", "ConsentWithdrawn"]
    assert "consent-expiry:k-1" not in store.deadlines
    assert not case.valid_consent_on(date(2025, 3, 2))


async def test_withdrawing_an_unknown_consent_is_not_found(s, store, ctx):
    with pytest.raises(NotFound, match="no consent k-9"):
        await run(s, ctx, lambda c: c.withdraw_consent(consent_id="k-9", effective_at=datetime.now(UTC),
                                                       **rq.WithdrawConsent().model_dump()))
    assert await types(store) == ["CaseOpened"]


# -- casework --------------------------------------------------------------------------------------------------------
async def test_assessment_after_consent(s, store, ctx):
    case, _ = await run(s, ctx, grant(), assess)
    assert case.assessment is not None and case.rechtskreis == Rechtskreis.ASYLBLG


async def test_residence_status_dates_are_encrypted_with_the_clients_key(s, store, ctx):
    await run(s, ctx, residence(s))
    last = (await store.read_stream(CASE))[-1]
    assert last.type == "kim.cases.ResidenceStatusRecorded" and last.key_id == f"key-{CLIENT}"
    assert "2024-05-01" not in str(last.data)
    key_id, key = await s.keys.get(CLIENT)
    assert crypto.decrypt(key, CLIENT, ev.ResidenceStatusRecorded.model_validate(last.data).dates) == {
        "status_since": "2024-05-01", "valid_until": "2026-05-01"}


async def test_rechtskreis_change_names_the_previous_one(s, store, ctx):
    await run(s, ctx, grant(), assess, lambda c: c.change_rechtskreis(**rq.ChangeRechtskreis(
        current=Rechtskreis.SGB_II, changed_on=date(2025, 3, 1)).model_dump()))
    last = (await store.read_stream(CASE))[-1]
    assert (last.data["previous"], last.data["current"]) == (Rechtskreis.ASYLBLG.value, Rechtskreis.SGB_II.value)


async def test_the_same_rechtskreis_again_is_refused(s, ctx):
    with pytest.raises(RuleViolation, match="already"):
        await run(s, ctx, grant(), assess, lambda c: c.change_rechtskreis(current=Rechtskreis.ASYLBLG,
                                                                           changed_on=date(2025, 3, 1)))


async def test_a_plan_needs_an_assessment_then_records_its_goals(s, store, ctx):
    with pytest.raises(RuleViolation, match="assessment"):
        await run(s, ctx, grant(), plan())
    case, _ = await run(s, ctx, assess, plan(("g-1", "g-2")))
    assert set(case.goals) == {"g-1", "g-2"} and case.goal_counts() == (2, 0)


async def test_review_notes_are_sealed_and_the_next_review_is_scheduled(s, store, ctx):
    await run(s, ctx, grant(), assess, plan(), review(s, next_review_on=date(2025, 6, 1)))
    last = (await store.read_stream(CASE))[-1]
    assert last.type == "kim.cases.ReviewHeld" and "language course" not in str(last.data)
    assert last.key_id == f"key-{CLIENT}"
    assert store.deadlines["review-due:case-1"]["data"] == {"due_on": "2025-06-01"}


async def test_a_review_without_notes_needs_no_key(s, store, ctx):
    await run(s, ctx, grant(), assess, plan(), review(s, notes=None))
    assert (await store.read_stream(CASE))[-1].data["notes"] is None


async def test_achieve_goal(s, ctx):
    case, _ = await run(s, ctx, grant(), assess, plan(), lambda c: c.achieve_goal(
        goal_id="g-1", **rq.AchieveGoal(achieved_on=date(2025, 5, 1)).model_dump()))
    assert case.goal_counts() == (1, 1)


async def test_drop_goal(s, store, ctx):
    await run(s, ctx, grant(), assess, plan(), lambda c: c.drop_goal(
        goal_id="g-1", **rq.DropGoal(reason=list(GoalDropReason)[0], dropped_on=date(2025, 5, 1)).model_dump()))
    assert (await types(store))[-1] == "GoalDropped"


async def test_an_unknown_goal_cannot_be_achieved(s, store, ctx):
    with pytest.raises(NotFound, match="no goal g-9"):
        await run(s, ctx, grant(), assess, plan(), lambda c: c.achieve_goal(goal_id="g-9",
                                                                             achieved_on=date(2025, 5, 1)))
    assert (await types(store))[-1] == "IntegrationPlanAgreed"


async def test_record_milestone(s, store, ctx):
    await run(s, ctx, lambda c: c.record_milestone(**rq.RecordMilestone(
        milestone=MilestoneKind.HOUSING_FOUND, reached_on=date(2025, 2, 1)).model_dump()))
    assert (await store.read_stream(CASE))[-1].data["milestone"] == MilestoneKind.HOUSING_FOUND.value


# -- the case's life -------------------------------------------------------------------------------------------------
async def test_transfer_moves_the_case_to_another_team(s, store, ctx):
    case, _ = await run(s, ctx, lambda c: c.transfer(**rq.TransferCase(
        municipality="05978020", team=TeamKind.CITY, team_organisation_id="stadt-kamen", case_manager_id="staff-9",
        transferred_on=date(2025, 2, 1)).model_dump()))
    assert (case.municipality, case.team_organisation_id, case.case_manager_id) == (
        "05978020", "stadt-kamen", "staff-9")


async def test_a_transfer_to_where_it_is_already_is_refused(s, store, ctx):
    with pytest.raises(RuleViolation, match="nothing to transfer"):
        await run(s, ctx, lambda c: c.transfer(**{k: v for k, v in opening(client_id=CLIENT).items() if k in {
            "municipality", "team", "team_organisation_id", "case_manager_id"}}, transferred_on=date(2025, 2, 1)))


async def test_pause_sets_its_end_deadline_and_resume_cancels_it(s, store, ctx):
    case, _ = await run(s, ctx, pause())
    assert case.paused is not None and "pause-end:case-1" in store.deadlines
    case, _ = await run(s, ctx, lambda c: c.resume(**rq.ResumeCase(resumed_on=date(2025, 3, 10)).model_dump()))
    assert case.paused is None and "pause-end:case-1" not in store.deadlines


async def test_a_paused_case_takes_no_casework(s, store, ctx):
    with pytest.raises(RuleViolation, match="paused"):
        await run(s, ctx, grant(), pause(), assess)
    assert (await types(store))[-1] == "CasePaused"


async def test_resume_needs_a_pause(s, ctx):
    with pytest.raises(RuleViolation, match="not paused"):
        await run(s, ctx, lambda c: c.resume(resumed_on=date(2025, 3, 10)))


async def test_close_counts_goals_and_sets_the_retention_deadline(s, store, ctx):
    case, _ = await run(s, ctx, grant(), assess, plan(), review(s, next_review_on=date(2025, 9, 1)), close)
    assert case.closed and case.closure.goals_agreed == 1
    assert "review-due:case-1" not in store.deadlines
    retention = store.deadlines["retention:case-1"]
    years = CasesSettings(_env_file=None).retention_years_for(ClosureReason.MOVED_AWAY)
    assert retention["data"] == {"client_id": CLIENT}
    assert retention["due_at"] == start_of(plus_years(date(2025, 6, 1), years)).isoformat()


async def test_a_closed_case_is_not_closed_again(s, store, ctx):
    with pytest.raises(RuleViolation):
        await run(s, ctx, close, close)
    assert await types(store) == ["CaseOpened", "CaseClosed"]


# -- clients: erasure and legal holds --------------------------------------------------------------------------------
async def test_erasure_appends_client_erased_and_destroys_the_key_together(s, store, ctx):
    client, version = await clients.erase(s, ctx, CLIENT, 1, ground=list(ErasureGround)[0],
                                          request_reference="AZ-17")
    assert version == 2 and client.erased and not await s.keys.exists(CLIENT)
    last = (await store.read_stream(CLIENT))[-1]
    assert last.type == "kim.cases.ClientErased" and "request_reference" not in last.data  # ClientErased v2
    assert "AZ-17" not in json.dumps(last.data) and await s.registrations.erasure_request(CLIENT) == "AZ-17"
    assert last.data["key_id"] == f"key-{CLIENT}"
    assert store.forgotten == [CLIENT]  # the stored Idempotency-Key answers about them, in the same transaction


async def test_erasure_at_a_stale_version_keeps_the_key(s, store, ctx):
    with pytest.raises(ConcurrencyConflict):
        await clients.erase(s, ctx, CLIENT, 7, ground=list(ErasureGround)[0], request_reference="AZ-17")
    assert await s.keys.exists(CLIENT) and await types(store, CLIENT) == ["ClientRegistered"]


async def test_an_erasure_whose_key_cannot_be_destroyed_rolls_back_the_event(s, store, ctx):
    async def failing_destroy(conn, client_id):
        raise OSError("the key store is away")

    s.keys.destroy = failing_destroy
    with pytest.raises(OSError):
        await clients.erase(s, ctx, CLIENT, None, ground=list(ErasureGround)[0], request_reference="AZ-17")
    assert await types(store, CLIENT) == ["ClientRegistered"]


async def test_an_erased_client_is_not_erased_twice(s, ctx):
    await clients.erase(s, ctx, CLIENT, None, ground=list(ErasureGround)[0], request_reference="AZ-17")
    with pytest.raises(RuleViolation, match="erased"):
        await clients.erase(s, ctx, CLIENT, None, ground=list(ErasureGround)[0], request_reference="AZ-18")


async def test_after_erasure_nothing_new_is_recorded_about_the_client(s, store, ctx):
    await run(s, ctx, grant(), assess, plan())
    await clients.erase(s, ctx, CLIENT, None, ground=list(ErasureGround)[0], request_reference="AZ-17")
    with pytest.raises(RuleViolation, match="erased"):
        await run(s, ctx, lambda c: c.record_milestone(milestone=MilestoneKind.HOUSING_FOUND,
                                                       reached_on=date(2025, 2, 1)))
    with pytest.raises(RuleViolation, match="erased"):
        await cases.seal(s, (await s.repo.case(CASE)), {"x": 1}, "notes")
    case, _ = await run(s, ctx, close)  # closing stays possible
    assert case.closed


async def test_place_and_lift_a_legal_hold(s, store, ctx):
    now = datetime(2025, 3, 1, tzinfo=UTC)
    hold_id, version = await clients.place_hold(s, ctx, CLIENT, reason=list(LegalHoldReason)[0],
                                                reference="AZ-5", now=now)
    assert version == 2 and hold_id in (await s.repo.client(CLIENT)).holds
    version = await clients.lift_hold(s, ctx, CLIENT, hold_id, 2, now + timedelta(days=1))
    assert version == 3 and not (await s.repo.client(CLIENT)).holds
    assert store.deadlines[f"retention-recheck:{CLIENT}"]["kind"] == "retention"


async def test_lifting_at_a_stale_version_or_an_unknown_hold_is_refused(s, store, ctx):
    now = datetime(2025, 3, 1, tzinfo=UTC)
    hold_id, _ = await clients.place_hold(s, ctx, CLIENT, reason=list(LegalHoldReason)[0], reference="AZ-5", now=now)
    with pytest.raises(ConcurrencyConflict):
        await clients.lift_hold(s, ctx, CLIENT, hold_id, 1, now)
    with pytest.raises(RuleViolation, match="no legal hold"):
        await clients.lift_hold(s, ctx, CLIENT, str(uuid.uuid4()), None, now)
    assert await types(store, CLIENT) == ["ClientRegistered", "LegalHoldPlaced"]


async def test_an_unknown_client_is_not_found(s, ctx):
    with pytest.raises(NotFound, match="no client"):
        await clients.place_hold(s, ctx, "nobody", reason=list(LegalHoldReason)[0], reference="AZ-5",
                                 now=datetime.now(UTC))


# -- deadlines firing (the scheduler's handlers, in the scheduler's transaction) ------------------------------------
def due(kind: str, stream_id: str, data: dict, at: datetime = datetime(2025, 6, 1, tzinfo=UTC)) -> Due:
    return Due(f"{kind}:{stream_id}", kind, stream_id, at, data, 0)


@pytest.fixture
def deadlines(s) -> CaseFollowUps:
    return CaseFollowUps(CasesSettings(_env_file=None), s)


async def test_an_expired_consent_is_recorded_on_the_case(s, store, ctx, deadlines):
    await run(s, ctx, grant(valid_until=date(2025, 5, 31)))
    async with store.pool.acquire() as conn, conn.transaction():
        await deadlines.expire_consent(conn, due("consent-expiry", CASE, {"consent_id": "k-1"}), datetime.now(UTC))
    last = (await store.read_stream(CASE))[-1]
    assert last.type == "kim.cases.ConsentExpired" and last.actor == "kim-cases-scheduler"


async def test_a_due_review_goes_to_the_follow_up_stream_and_leaves_the_cases_version(s, store, ctx, deadlines):
    _, version = await run(s, ctx, grant(), assess, plan(), review(s, next_review_on=date(2025, 6, 1)))
    async with store.pool.acquire() as conn, conn.transaction():
        await deadlines.review_due(conn, due("review-due", CASE, {"due_on": "2025-06-01"}), datetime.now(UTC))
    assert await store.stream_version(CASE) == version
    assert await types(store, f"wv-{CASE}") == ["ReviewDue"]


async def test_a_pause_end_that_no_longer_applies_fires_nothing(s, store, ctx, deadlines):
    await run(s, ctx, pause(), lambda c: c.resume(resumed_on=date(2025, 3, 10)))
    before = len(store.outbox)
    async with store.pool.acquire() as conn, conn.transaction():
        await deadlines.pause_end(conn, due("pause-end", CASE, {"due_on": "2025-04-01"}), datetime.now(UTC))
    assert len(store.outbox) == before


async def test_a_pause_end_that_applies_is_recorded(s, store, ctx, deadlines):
    await run(s, ctx, pause())
    async with store.pool.acquire() as conn, conn.transaction():
        await deadlines.pause_end(conn, due("pause-end", CASE, {"due_on": "2025-04-01"}), datetime.now(UTC))
    assert await types(store, f"wv-{CASE}") == ["PauseEndDue"]


async def test_a_failing_firing_rolls_back_what_it_appended(s, store, ctx, deadlines):
    await run(s, ctx, pause())
    with pytest.raises(RuntimeError):
        async with store.pool.acquire() as conn, conn.transaction():
            await deadlines.pause_end(conn, due("pause-end", CASE, {"due_on": "2025-04-01"}), datetime.now(UTC))
            raise RuntimeError("the scheduler's transaction fails after the handler")
    assert await store.read_stream(f"wv-{CASE}") == []


# -- registering a client, opening a case, the retention deadline -----------------------------------------------------
REGISTRATION = {"name": "Samir Haddad", "date_of_birth": date(1988, 4, 2), "address": "Lange Str. 3, Lünen",
                "contact": None, "birth_year": 1988, "languages": ["ar", "fr"], "arrival_year": 2015}


async def test_registering_a_client_encrypts_their_data_with_a_new_key_and_records_where(s, store, ctx):
    client_id, version = await clients.register(s, ctx, **REGISTRATION)
    [registered] = await store.read_stream(client_id)
    assert (version, registered.type, registered.subject, registered.municipality) == (
        1, "kim.cases.ClientRegistered", client_id, LEAD.municipality)
    key_id, key = s.keys.keys[client_id]
    assert registered.key_id == key_id and "Samir" not in str(registered.data)
    assert crypto.decrypt(key, client_id, Encrypted.model_validate(registered.data["personal"]))["name"] == "Samir Haddad"
    assert s.registrations.places[client_id] == (LEAD.municipality, LEAD.team)


async def test_opening_a_case_for_a_registered_client_in_the_callers_place(s, store, ctx):
    client_id, _ = await clients.register(s, ctx, **REGISTRATION)
    case, version = await cases.open_case(s, ctx, **opening(client_id=client_id))
    [opened] = await store.read_stream(case.case_id)
    assert (version, opened.type, opened.subject, opened.municipality) == (
        1, "kim.cases.CaseOpened", client_id, "05978024")
    assert await s.registrations.case_ids_of(client_id) == [case.case_id]


async def test_a_case_is_not_opened_for_an_unknown_or_erased_client_or_outside_the_callers_place(s, store, ctx):
    with pytest.raises(NotFound):
        await cases.open_case(s, ctx, **opening(client_id="nobody"))
    client_id, _ = await clients.register(s, ctx, **REGISTRATION)
    with pytest.raises(NotInScope, match="your token is for team stadt-luenen"):
        await cases.open_case(s, ctx, **opening(client_id=client_id, team_organisation_id="stadt-unna",
                                                municipality="05978036"))
    await clients.erase(s, ctx, client_id, None, ground=list(ErasureGround)[0], request_reference="AZ-1")
    with pytest.raises(RuleViolation):
        await cases.open_case(s, ctx, **opening(client_id=client_id))
    assert await s.registrations.case_ids_of(client_id) == []


async def test_a_client_another_team_serves_gets_no_second_case(s, store, ctx):
    client_id, _ = await clients.register(s, ctx, **REGISTRATION)  # registered in Lünen
    admin = Principal(sub="admin-1", role=Role.ADMIN)
    await cases.open_case(s, CommandContext(actor=admin.sub, principal=admin),
                          **opening(client_id=client_id, municipality="05978036", team_organisation_id="stadt-unna"))
    with pytest.raises(RuleViolation, match="served by another team or municipality") as refused:
        await cases.open_case(s, ctx, **opening(client_id=client_id))
    assert "stadt-unna" not in str(refused.value) and "05978036" not in str(refused.value)
    other = Principal(sub="staff-9", role=Role.TEAM_LEAD, team="stadt-selm", municipality="05978028")
    with pytest.raises(NotFound):  # a client out of reach answers like an unknown one
        await cases.open_case(s, CommandContext(actor=other.sub, principal=other),
                              **opening(client_id=client_id, municipality="05978028", team_organisation_id="stadt-selm"))
    assert len(await s.registrations.case_ids_of(client_id)) == 1


async def test_the_retention_deadline_erases_a_client_once_every_case_is_closed_and_its_period_passed(
        s, store, ctx, deadlines):
    await run(s, ctx, close)
    years = CasesSettings(_env_file=None).retention_years_for(ClosureReason.MOVED_AWAY)
    early = start_of(plus_years(date(2025, 6, 1), years)) - timedelta(days=1)
    async with store.pool.acquire() as conn, conn.transaction():
        await deadlines.retention(conn, due("retention", CASE, {"client_id": CLIENT}), early)
    assert await store.stream_version(CLIENT) == 1 and CLIENT in s.keys.keys  # not yet
    late = start_of(plus_years(date(2025, 6, 1), years)) + timedelta(days=1)
    async with store.pool.acquire() as conn, conn.transaction():
        await deadlines.retention(conn, due("retention", CASE, {"client_id": CLIENT}), late)
    erased = (await store.read_stream(CLIENT))[-1]
    assert (erased.type, erased.actor, erased.data["reason"]) == (
        "kim.cases.ClientErased", "kim-cases-scheduler", "aufbewahrungsfrist")
    assert CLIENT not in s.keys.keys


async def test_the_retention_deadline_waits_for_an_open_case_of_the_client(s, store, ctx, deadlines):
    await run(s, ctx, close)
    await cases.open_case(s, ctx, **opening(client_id=CLIENT, opened_on=date(2025, 7, 1)))
    async with store.pool.acquire() as conn, conn.transaction():
        await deadlines.retention(conn, due("retention", CASE, {"client_id": CLIENT}), datetime(2090, 1, 1, tzinfo=UTC))
    assert await store.stream_version(CLIENT) == 1 and CLIENT in s.keys.keys
