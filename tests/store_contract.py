"""The event store's contract: one suite, run against every backend (like eventsourcing's tests/persistence.py).

The write side's seedwork on top of the store (kim_runtime.commands: Repository and UnitOfWork) is part of the same
contract, so a service-layer unit test on the in-memory store means what it would on PostgreSQL.

A backend's test class subclasses `StoreContract` and gives three things: the fixture `store` (an empty store
publishing to `TOPIC`, with `SCHEDULE` as its schedule), `unpublished_store` (no topic: no outbox), and two
inspections the store's API does not offer: `outbox(store)` (position, topic) and `deadline_keys(store)`.
- tests/unit/runtime/test_store_contract_memory.py: kim_runtime.memory.InMemoryEventStore (unit tier)
- tests/integration/runtime/test_store_contract.py: kim_runtime.store.EventStore on PostgreSQL (integration tier,
  the `stack` fixture), plus what only PostgreSQL has: the hash chain and its verifier.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from typing import ClassVar

import pytest

from kim_runtime import upcasting
from kim_runtime.commands import Aggregate, CommandContext, Repository, UnitOfWork
from kim_runtime.contract import FixedContract
from kim_runtime.envelope import Envelope
from kim_runtime.errors import ConcurrencyConflict, NotFound, RuleViolation
from kim_runtime.scheduler import Cancel, Deadline
from kim_schemas.base import Event

TOPIC = "kim.test"
DUE = datetime(2030, 1, 1, tzinfo=UTC)


def ev(stream: str, n: int, type_: str = "kim.test.Counted", **data) -> Envelope:
    return Envelope(type=type_, source="/kim/test", stream_id=stream, data={"n": n, **data})


def SCHEDULE(env: Envelope):
    """Events with `remind` set a deadline `remind:<stream>`; with `done`, cancel it."""
    if env.data.get("remind"):
        yield Deadline(f"remind:{env.stream_id}", "remind", env.stream_id, DUE + timedelta(days=env.data["n"]))
    if env.data.get("done"):
        yield Cancel(key=f"remind:{env.stream_id}")


def _v1_to_v2(data: dict) -> dict:
    return {**data, "doubled": data["n"] * 2}


upcasting.register("kim.test.Upcast", 1, _v1_to_v2)


class Tallied(Event):
    """A contract event of the tests' own (a Repository appends contract events)."""

    event_type: ClassVar[str] = "kim.test.Tallied"
    stream_key: ClassVar[str] = "tally_id"
    tally_id: str
    n: int


class Noted(Event):
    event_type: ClassVar[str] = "kim.test.Noted"
    stream_key: ClassVar[str] = "tally_id"
    tally_id: str


class Tally(Aggregate):
    def __init__(self, tally_id: str):
        self.tally_id, self.total = tally_id, 0

    def apply(self, event: Tallied) -> None:
        self.total += event.n
        self.version += 1

    def add(self, n: int) -> list[Event]:
        return self.emit(Tallied(tally_id=self.tally_id, n=n))


TEST_CONTRACT = FixedContract({"kim.test.Tallied": Tallied, "kim.test.Noted": Noted})
CTX = CommandContext(actor="contract-test", correlation_id="corr-1", causation_id="cmd-1")


def tallies(store, **options) -> Repository[Tally]:
    return Repository(store, Tally, source="/kim/test", contract=TEST_CONTRACT, kinds=(Tallied,), **options)


class StoreContract:
    async def outbox(self, store) -> list[tuple[int, str]]:
        raise NotImplementedError

    async def deadline_keys(self, store) -> set[str]:
        raise NotImplementedError

    # -- versions and the expected version -----------------------------------------------------------------------
    async def test_append_assigns_versions_and_reads_back_in_order(self, store):
        first = await store.append("s1", [ev("s1", 1), ev("s1", 2)], expected_version=0)
        await store.append("s1", [ev("s1", 3)], expected_version=2)
        events = await store.read_stream("s1")
        assert [e.stream_version for e in events] == [1, 2, 3]
        assert [e.data["n"] for e in events] == [1, 2, 3]
        assert [r.envelope.stream_version for r in first] == [1, 2]
        assert await store.stream_version("s1") == 3
        assert [e.data["n"] for e in await store.read_stream("s1", from_version=2)] == [2, 3]

    async def test_an_unknown_stream_is_empty_at_version_zero(self, store):
        assert await store.read_stream("nobody") == []
        assert await store.stream_version("nobody") == 0

    async def test_stale_expected_version_is_a_conflict_and_writes_nothing(self, store):
        await store.append("s1", [ev("s1", 1)], expected_version=0)
        with pytest.raises(ConcurrencyConflict) as info:
            await store.append("s1", [ev("s1", 2), ev("s1", 3)], expected_version=0)
        assert (info.value.stream_id, info.value.expected, info.value.actual) == ("s1", 0, 1)
        with pytest.raises(ConcurrencyConflict) as info:
            await store.append("s2", [ev("s2", 1)], expected_version=4)
        assert info.value.actual == 0
        assert [e.data["n"] for e in await store.read_stream("s1")] == [1]
        assert await store.read_stream("s2") == [] and await store.stream_version("s2") == 0
        assert len(await self.outbox(store)) == 1

    async def test_an_empty_append_records_nothing(self, store):
        assert await store.append("s1", [], expected_version=0) == []
        assert await store.stream_version("s1") == 0
        assert await self.outbox(store) == []

    async def test_an_event_of_another_stream_is_refused(self, store):
        with pytest.raises(ValueError, match="belongs to stream s2"):
            await store.append("s1", [ev("s1", 1), ev("s2", 1)], expected_version=0)
        assert await store.stream_version("s1") == 0

    # -- what is stored ------------------------------------------------------------------------------------------
    async def test_an_event_reads_back_as_it_was_appended(self, store):
        given = Envelope(type="kim.test.Counted", source="/kim/test", stream_id="s1", subject="client-1",
                         correlation_id="corr-1", causation_id="cmd-1", actor="u1", municipality="05978024",
                         key_id="key-1", data={"n": 1, "nested": {"list": [1, "two", None]}, "text": "Grüße"})
        await store.append("s1", [given], 0)
        [read] = await store.read_stream("s1")
        keep = {"id", "type", "source", "subject", "correlation_id", "causation_id", "actor", "municipality",
                "key_id", "data", "schema_version"}
        assert read.model_dump(include=keep) == given.model_dump(include=keep)
        assert read.time == given.time and read.stream_version == 1

    async def test_the_store_keeps_its_own_copy_of_the_data(self, store):
        given = ev("s1", 1, items=[1])
        await store.append("s1", [given], 0)
        given.data["items"].append(2)
        [read] = await store.read_stream("s1")
        read.data["items"].append(3)
        assert (await store.read_stream("s1"))[0].data["items"] == [1]

    async def test_older_versions_are_upcast_on_reading(self, store):
        await store.append("u1", [ev("u1", 3, type_="kim.test.Upcast")], 0)
        [read] = await store.read_stream("u1")
        assert (read.schema_version, read.data) == (2, {"n": 3, "doubled": 6})
        [recorded] = [r async for r in store.read_all()]
        assert recorded.envelope.data["doubled"] == 6

    # -- positions and the outbox --------------------------------------------------------------------------------
    async def test_read_all_follows_global_position(self, store):
        appended = [r for s, n, v in (("a", 1, 0), ("b", 1, 0), ("a", 2, 1))
                    for r in await store.append(s, [ev(s, n)], v)]
        seen = [r async for r in store.read_all(batch_size=2)]
        assert [(r.envelope.stream_id, r.envelope.data["n"]) for r in seen] == [("a", 1), ("b", 1), ("a", 2)]
        assert [r.position for r in seen] == [r.position for r in appended]
        assert all(a < b for a, b in zip([r.position for r in seen], [r.position for r in seen][1:]))
        after_first = [r.position async for r in store.read_all(from_position=seen[0].position)]
        assert after_first == [r.position for r in seen[1:]]
        assert [r async for r in store.read_all(from_position=seen[-1].position)] == []

    async def test_each_event_gets_one_outbox_entry_at_its_position(self, store):
        recorded = await store.append("s1", [ev("s1", 1), ev("s1", 2)], 0)
        recorded += await store.append("s2", [ev("s2", 1)], 0)
        assert await self.outbox(store) == [(r.position, TOPIC) for r in recorded]

    async def test_a_store_without_a_topic_keeps_no_outbox(self, unpublished_store):
        await unpublished_store.append("s1", [ev("s1", 1)], 0)
        assert await self.outbox(unpublished_store) == []
        assert await unpublished_store.stream_version("s1") == 1

    async def test_a_routed_store_appends_to_another_outbox_route_in_the_same_transaction(self, store):
        partner, quiet = store.routed("kim.partner.contract-test"), store.routed(None)
        async with store.pool.acquire() as conn:
            with pytest.raises(RuntimeError):
                async with conn.transaction():
                    await partner.append("p1", [ev("p1", 1)], 0, conn=conn)
                    raise RuntimeError("the route's append rolls back with the transaction")
            async with conn.transaction():
                own = await store.append("s1", [ev("s1", 1)], 0, conn=conn)
                routed = await partner.append("p1", [ev("p1", 1)], 0, conn=conn)
                unpublished = await quiet.append("l1", [ev("l1", 1)], 0, conn=conn)
        assert await self.outbox(store) == [(own[0].position, TOPIC), (routed[0].position, "kim.partner.contract-test")]
        assert [r.position async for r in store.read_all()] == [own[0].position, routed[0].position,
                                                                   unpublished[0].position]
        assert await store.stream_version("p1") == 1 and await partner.stream_version("s1") == 1

    # -- the unit of work ----------------------------------------------------------------------------------------
    async def test_appends_in_the_callers_transaction_commit_together_or_not_at_all(self, store):
        async with store.pool.acquire() as conn:
            with pytest.raises(RuntimeError):
                async with conn.transaction():
                    await store.append("s1", [ev("s1", 1)], 0, conn=conn)
                    await store.append("s2", [ev("s2", 1)], 0, conn=conn)
                    raise RuntimeError("the caller's transaction fails after the appends")
            async with conn.transaction():
                await store.append("s1", [ev("s1", 10)], 0, conn=conn)
                await store.append("s1", [ev("s1", 11)], 1, conn=conn)
                await store.append("s2", [ev("s2", 10)], 0, conn=conn)
        assert [e.data["n"] for e in await store.read_stream("s1")] == [10, 11]
        assert [e.data["n"] for e in await store.read_stream("s2")] == [10]
        assert len(await self.outbox(store)) == 3
        assert len([r async for r in store.read_all()]) == 3

    async def test_a_transaction_sees_its_own_appends_others_only_after_commit(self, store):
        async with store.pool.acquire() as conn, conn.transaction():
            await store.append("s1", [ev("s1", 1)], 0, conn=conn)
            assert [e.data["n"] for e in await store.read_stream("s1", conn=conn)] == [1]
            assert await store.stream_version("s1", conn) == 1
            assert await store.read_stream("s1") == []
            assert await store.stream_version("s1") == 0
            assert [r async for r in store.read_all()] == []
        assert await store.stream_version("s1") == 1

    async def test_a_second_writer_waits_for_the_transaction_then_conflicts(self, store):
        async with store.pool.acquire() as conn:
            async with conn.transaction():
                await store.append("s1", [ev("s1", 1)], 0, conn=conn)
                rival = asyncio.create_task(store.append("s1", [ev("s1", 99)], 0))
                await asyncio.sleep(0.2)
                assert not rival.done(), "the rival wrote past an uncommitted append to its stream"
            with pytest.raises(ConcurrencyConflict) as info:
                await rival
        assert info.value.actual == 1
        assert [e.data["n"] for e in await store.read_stream("s1")] == [1]

    async def test_many_concurrent_appenders_to_one_stream_never_lose_or_duplicate(self, store):
        """20 writers race on one stream, each retrying on conflict: every event lands once, versions have no gap."""

        async def writer(w: int) -> int:
            conflicts = 0
            for i in range(5):
                while True:
                    version = await store.stream_version("hot")
                    await asyncio.sleep(0)  # let the others read the same version
                    try:
                        await store.append("hot", [ev("hot", i, writer=w)], version)
                        break
                    except ConcurrencyConflict:
                        conflicts += 1
            return conflicts

        conflicts = await asyncio.gather(*(writer(w) for w in range(20)))
        events = await store.read_stream("hot")
        assert [e.stream_version for e in events] == list(range(1, 101))
        assert sorted((e.data["writer"], e.data["n"]) for e in events) == [(w, i) for w in range(20) for i in range(5)]
        assert sum(conflicts) > 0, "the race did not happen; the test proves nothing"

    # -- deadlines -----------------------------------------------------------------------------------------------
    async def test_deadlines_change_with_the_events_that_ask_for_them(self, store):
        await store.append("s1", [ev("s1", 1, remind=True)], 0)
        await store.append("s2", [ev("s2", 1, remind=True)], 0)
        async with store.pool.acquire() as conn:
            with pytest.raises(RuntimeError):
                async with conn.transaction():
                    await store.append("s1", [ev("s1", 2, done=True)], 1, conn=conn)
                    raise RuntimeError("rolled back: the cancellation with it")
        assert await self.deadline_keys(store) == {"remind:s1", "remind:s2"}
        await store.append("s1", [ev("s1", 2, done=True)], 1)
        assert await self.deadline_keys(store) == {"remind:s2"}

    # -- the repository and the unit of work (kim_runtime.commands) ------------------------------------------------
    async def test_a_repository_loads_with_the_version_and_appends_at_it(self, store):
        repo = tallies(store, missing=lambda i: f"no tally {i}")
        with pytest.raises(NotFound, match="no tally t1"):
            await repo.load("t1")
        tally = Tally("t1")
        await repo.append("t1", 0, tally.add(2) + tally.add(3), CTX, subject="subj-1", municipality="05978024")
        loaded = await repo.load("t1")
        assert (loaded.total, loaded.version) == (5, 2)
        [first, _] = await store.read_stream("t1")
        assert (first.actor, first.correlation_id, first.causation_id, first.subject, first.municipality,
                first.source) == ("contract-test", "corr-1", "cmd-1", "subj-1", "05978024", "/kim/test")
        with pytest.raises(ConcurrencyConflict):
            await repo.append("t1", 1, Tally("t1").add(1), CTX)
        assert (await repo.load("t1")).version == 2

    async def test_a_repository_refuses_a_stream_of_another_kind_or_passes_over_it(self, store):
        await store.append("t1", [CTX.wrap(Noted(tally_id="t1"), source="/kim/test")], 0)
        await store.append("t1", [CTX.wrap(Tallied(tally_id="t1", n=4), source="/kim/test")], 1)
        with pytest.raises(RuleViolation, match="already used by a Noted stream"):
            await tallies(store).load("t1")
        tally, taken = await tallies(store, skip_others=True).load_with_envelopes("t1")
        assert (tally.total, tally.version, [e.type for e in taken]) == (4, 2, ["kim.test.Tallied"])

    async def test_a_unit_of_work_commits_its_appends_together_or_none(self, store):
        repo = tallies(store)
        with pytest.raises(RuntimeError):
            async with UnitOfWork(store) as uow:
                await repo.append("t1", 0, Tally("t1").add(1), CTX, uow=uow)
                await repo.append("t2", 0, Tally("t2").add(1), CTX, uow=uow)
                assert (await repo.load("t1", uow)).version == 1  # its own appends are seen inside
                raise RuntimeError("the command fails after its appends")
        assert await store.stream_version("t1") == 0 and await store.stream_version("t2") == 0
        assert await self.outbox(store) == []
        async with UnitOfWork(store) as uow:
            await repo.append("t1", 0, Tally("t1").add(1), CTX, uow=uow)
            await store.routed("kim.partner.contract-test").append("p1", [ev("p1", 1)], 0, conn=uow.conn)
        assert (await repo.load("t1")).version == 1
        assert [topic for _, topic in await self.outbox(store)] == [TOPIC, "kim.partner.contract-test"]
