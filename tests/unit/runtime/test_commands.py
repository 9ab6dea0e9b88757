"""The runtime's write-side seedwork (kim_runtime.commands) on the in-memory store: an aggregate rebuilt from its
events with its version, appends with the expected version, one unit of work for several appends and their outbox
entries, and the command context built once from a request's headers or from the event a consumer acts on."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from kim_runtime.auth import Principal, Role
from kim_runtime.commands import Aggregate, CommandContext, Repository, UnitOfWork
from kim_runtime.envelope import Envelope
from kim_runtime.errors import ConcurrencyConflict, NotFound, RuleViolation
from kim_runtime.memory import InMemoryEventStore
from kim_schemas.codes import Baustein
from kim_schemas.staffing import GrantAwarded

LEAD = Principal(sub="staff-1", role=Role.TEAM_LEAD, team="stadt-luenen", municipality="05978024")


class Grant(Aggregate):
    def __init__(self, grant_id: str):
        self.grant_id, self.version, self.vza = grant_id, 0, Decimal(0)

    def apply(self, event: GrantAwarded) -> None:
        self.vza += event.vza
        self.version += 1

    def award(self, vza: str) -> list:
        return self.emit(GrantAwarded(grant_id=self.grant_id, baustein=Baustein.STRATEGIC_COORDINATION, period_from=date(2025, 1, 1),
                                      period_to=date(2025, 12, 31), vza=Decimal(vza), rate_per_vza=Decimal(60000)))


@pytest.fixture
def store():
    return InMemoryEventStore("kim.staffing")


@pytest.fixture
def repo(store):
    return Repository(store, Grant, source="/kim/staffing", missing=lambda i: f"no grant {i}")


CTX = CommandContext.of_request(LEAD, {"x-correlation-id": "corr-1", "x-command-id": "cmd-1",
                                       "idempotency-key": "key-1"})


async def test_a_loaded_aggregate_has_its_streams_version_and_its_decisions_are_appended_at_it(store, repo):
    with pytest.raises(NotFound, match="no grant g-1"):
        await repo.load("g-1")
    grant = Grant("g-1")
    [appended] = await repo.append("g-1", grant.version, grant.award("1.5"), CTX, municipality="05978024")
    assert appended.stream_version == 1
    loaded = await repo.load("g-1")
    assert (loaded.version, loaded.vza) == (1, Decimal("1.5"))
    assert [e.stream_version for e in await repo.append("g-1", loaded.version, loaded.award("0.5"), CTX)] == [2]
    [first, second] = await store.read_stream("g-1")
    assert (first.actor, first.correlation_id, first.causation_id, first.source, first.municipality) == (
        "staff-1", "corr-1", "cmd-1", "/kim/staffing", "05978024")
    assert second.municipality is None  # none given, none in the context


async def test_a_stale_expected_version_is_a_conflict_and_appends_nothing(store, repo):
    grant = Grant("g-1")
    await repo.append("g-1", 0, grant.award("1"), CTX)
    with pytest.raises(ConcurrencyConflict):
        await repo.append("g-1", 0, Grant("g-1").award("2"), CTX)
    assert (await repo.load("g-1")).vza == Decimal(1)


async def test_a_unit_of_work_commits_its_appends_and_their_outbox_entries_together_or_none(store, repo):
    async with UnitOfWork(store) as uow:
        await repo.append("g-1", 0, Grant("g-1").award("1"), CTX, uow=uow)
        await repo.append("g-2", 0, Grant("g-2").award("1"), CTX, uow=uow)
        assert (await repo.load("g-1", uow)).version == 1  # the unit of work reads its own appends
        assert store.outbox == [] and uow.topic == "kim.staffing"
    assert [e.topic for e in store.outbox] == ["kim.staffing", "kim.staffing"]
    with pytest.raises(ConcurrencyConflict):
        async with UnitOfWork(store) as uow:
            await repo.append("g-3", 0, Grant("g-3").award("1"), CTX, uow=uow)
            await repo.append("g-1", 0, Grant("g-1").award("1"), CTX, uow=uow)  # stale: all of it rolls back
    assert await store.read_stream("g-3") == [] and len(store.outbox) == 2


async def test_a_stream_of_another_kind_of_record_is_refused(store):
    await Repository(store, Grant, source="/kim/staffing").append("g-1", 0, Grant("g-1").award("1"), CTX)
    other = Repository(store, Grant, source="/kim/staffing", kinds=(str,))
    with pytest.raises(RuleViolation, match="already used by a GrantAwarded stream"):
        await other.load("g-1")


def test_the_context_of_a_request_and_of_an_event_acted_on():
    assert (CTX.actor, CTX.principal, CTX.idempotency_key, CTX.scope) == (
        "staff-1", LEAD, "key-1", ("05978024", "stadt-luenen", None))
    fresh = CommandContext.of_request(LEAD, {})
    assert fresh.correlation_id != fresh.causation_id and fresh.idempotency_key is None
    event = Envelope(type="kim.cases.CaseClosed", source="/kim/cases", stream_id="case-1", data={},
                     actor="staff-2", correlation_id="corr-9")
    following = CommandContext.following(event, actor=event.actor or "kim-referrals")
    assert (following.actor, following.correlation_id, following.causation_id, following.principal) == (
        "staff-2", "corr-9", event.id, None)
    assert CommandContext.following(event.model_copy(update={"actor": None, "correlation_id": None}),
                                    actor="kim-referrals").correlation_id == event.id
    assert CTX.municipality is None  # events name their municipality; a service may set the caller's
    assert CTX.in_municipality("05978020").municipality == "05978020"
    assert CTX.in_municipality("05978020").in_municipality(None).municipality == "05978020"
