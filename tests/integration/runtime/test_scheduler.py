"""The durable scheduler on the real PostgreSQL, with a moved clock (never a wall-clock wait for a deadline):
a deadline commits with the event that sets it, fires exactly once when due, moves and cancels by later events,
survives a worker that dies mid-firing, and two replicas fire each of many deadlines once."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from kim_runtime import db
from kim_runtime.envelope import Envelope
from kim_runtime.errors import ConcurrencyConflict
from kim_runtime.scheduler import Cancel, Deadline, Due, ManualClock, Scheduler, derive_once, pending
from kim_runtime.store import EventStore
from tests.polling import eventually

pytestmark = [pytest.mark.postgres]
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def schedule(env: Envelope):
    """Test rule: kim.test.Planned sets 'remind:<stream>' at data.at; kim.test.Dropped cancels it."""
    if env.type == "kim.test.Planned":
        yield Deadline(f"remind:{env.stream_id}", "remind", env.stream_id, datetime.fromisoformat(env.data["at"]),
                       {"note": env.data.get("note", "")})
    elif env.type == "kim.test.Dropped":
        yield Cancel(key=f"remind:{env.stream_id}")


def now(predicate):
    """An async check for tests.polling.eventually from a plain predicate."""
    async def check():
        return predicate()
    return check


def event(stream: str, type_: str, **data) -> Envelope:
    return Envelope(type=type_, source="/kim/test", stream_id=stream, data=data)


class Reminders:
    """The 'remind' handler: appends kim.test.Reminded to the deadline's stream (fails on purpose when told)."""

    def __init__(self, store: EventStore):
        self.store, self.fail_next, self.gate = store, 0, None

    async def __call__(self, conn: asyncpg.Connection, due: Due, now: datetime) -> None:
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_next:
            self.fail_next -= 1
            raise ConcurrencyConflict(due.stream_id, 0, None)
        version = await conn.fetchval("SELECT version FROM streams WHERE stream_id = $1", due.stream_id)
        await self.store.append(due.stream_id, [event(due.stream_id, "kim.test.Reminded", key=due.key,
                                                      due_at=due.due_at.isoformat(), note=due.data["note"])],
                                version, conn=conn)


async def reminded(pool) -> list[tuple[str, str]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT stream_id, data->>'note' AS note FROM events "
                                "WHERE type = 'kim.test.Reminded' ORDER BY position")
    return [(r["stream_id"], r["note"]) for r in rows]


async def plan(store: EventStore, stream: str, at: datetime, version: int = 0, note: str = "") -> None:
    await store.append(stream, [event(stream, "kim.test.Planned", at=at.isoformat(), note=note)], version)


def worker(pool, store, clock, dsn=None) -> tuple[Scheduler, Reminders]:
    handler = Reminders(store)
    return Scheduler(pool, {"remind": handler}, clock=clock, dsn=dsn, batch_size=7), handler


async def test_a_deadline_fires_once_when_due_and_not_before(pool):
    store, clock = EventStore(pool, None, schedule=schedule), ManualClock(T0)
    sched, _ = worker(pool, store, clock)
    await plan(store, "s-1", T0 + timedelta(days=3), note="first")
    async with pool.acquire() as conn:
        assert [d["key"] for d in await pending(conn)] == ["remind:s-1"]

    clock.advance(timedelta(days=3) - timedelta(seconds=1))
    assert await sched.fire_due() == 0
    clock.advance(timedelta(seconds=1))
    assert await sched.fire_due() == 1
    assert await sched.fire_due() == 0
    clock.advance(timedelta(days=30))
    assert await sched.fire_due() == 0
    assert await reminded(pool) == [("s-1", "first")]
    async with pool.acquire() as conn:
        assert await pending(conn) == []


async def test_a_later_event_moves_or_cancels_the_deadline(pool):
    store, clock = EventStore(pool, None, schedule=schedule), ManualClock(T0)
    sched, _ = worker(pool, store, clock)
    await plan(store, "moved", T0 + timedelta(days=1), note="old")
    await plan(store, "moved", T0 + timedelta(days=5), version=1, note="new")
    await plan(store, "dropped", T0 + timedelta(days=1))
    await store.append("dropped", [event("dropped", "kim.test.Dropped")], 1)

    clock.advance(timedelta(days=2))
    assert await sched.fire_due() == 0
    clock.advance(timedelta(days=3))
    assert await sched.fire_due() == 1
    assert await reminded(pool) == [("moved", "new")]


async def test_a_deadline_rolls_back_with_the_event_that_set_it(pool):
    store = EventStore(pool, None, schedule=schedule)
    await plan(store, "s-1", T0)
    with pytest.raises(ConcurrencyConflict):
        await plan(store, "s-1", T0 + timedelta(days=9), version=0, note="stale writer")
    async with pool.acquire() as conn:
        assert [(d["key"], d["due_at"]) for d in await pending(conn)] == [("remind:s-1", T0)]


async def test_a_failing_handler_postpones_its_deadline_and_the_others_fire(pool):
    store, clock = EventStore(pool, None, schedule=schedule), ManualClock(T0)
    sched, handler = worker(pool, store, clock)
    for n in range(3):
        await plan(store, f"s-{n}", T0 + timedelta(minutes=n), note=str(n))
    handler.fail_next = 1  # the first one in due order fails once
    clock.advance(timedelta(hours=1))
    assert await sched.fire_due() == 2
    async with pool.acquire() as conn:
        (left,) = await pending(conn)
    assert (left["key"], left["attempts"]) == ("remind:s-0", 1)
    assert left["due_at"] == clock.now() + timedelta(seconds=sched.retry_s)
    assert "ConcurrencyConflict" in left["last_error"]
    clock.advance(timedelta(seconds=sched.retry_s))
    assert await sched.fire_due() == 1
    assert sorted(await reminded(pool)) == [("s-0", "0"), ("s-1", "1"), ("s-2", "2")]


async def test_a_worker_that_dies_while_firing_leaves_the_deadline_to_the_next(pool, fresh_db):
    store, clock = EventStore(pool, None, schedule=schedule), ManualClock(T0)
    await plan(store, "s-1", T0, note="once")
    dying, dying_handler = worker(pool, store, clock)
    dying_handler.gate = asyncio.Event()  # never opened: it dies holding the row
    task = asyncio.create_task(dying.fire_due())
    await eventually(lambda: _locked(pool))

    other_pool = await db.create_pool(fresh_db, max_size=2)
    try:
        other, _ = worker(other_pool, EventStore(other_pool, None, schedule=schedule), clock)
        assert await other.fire_due() == 0  # locked by a live worker: skipped, not fired twice
        task.cancel()  # the first worker dies before its commit
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert await other.fire_due() == 1
    finally:
        await other_pool.close()
    assert await reminded(pool) == [("s-1", "once")]


async def _locked(pool) -> bool:
    """True once a worker holds the deadline's row (a SKIP LOCKED look passes over it)."""
    async with pool.acquire() as conn, conn.transaction():
        return await conn.fetchval("SELECT count(*) FROM (SELECT key FROM deadlines FOR UPDATE SKIP LOCKED) f") == 0


async def test_two_replicas_fire_each_of_many_deadlines_once(pool, fresh_db):
    store, clock = EventStore(pool, None, schedule=schedule), ManualClock(T0)
    n = 60
    for i in range(n):
        await plan(store, f"s-{i:03}", T0 + timedelta(hours=1 + i % 5), note=str(i))
    pools = [await db.create_pool(fresh_db, max_size=3) for _ in range(2)]
    replicas = [worker(p, EventStore(p, None, schedule=schedule), clock, dsn=fresh_db)[0] for p in pools]
    tasks = [asyncio.create_task(r.run()) for r in replicas]
    try:
        await eventually(now(lambda: all(r.wakeups >= 1 for r in replicas)))
        assert sum(r.fired for r in replicas) == 0
        clock.advance(timedelta(hours=6))  # wakes both at the same moment: they race for every row
        await eventually(now(lambda: sum(r.fired for r in replicas) >= n))
        await asyncio.sleep(0)
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        for p in pools:
            await p.close()
    fired = await reminded(pool)
    assert sum(r.fired for r in replicas) == n
    assert sorted(fired) == sorted((f"s-{i:03}", str(i)) for i in range(n))
    print(f"two replicas fired {n} deadlines: {replicas[0].fired} + {replicas[1].fired}")


async def test_a_new_deadline_wakes_a_sleeping_worker_by_notification(pool, fresh_db):
    store, clock = EventStore(pool, None, schedule=schedule), ManualClock(T0)
    sched, _ = worker(pool, store, clock, dsn=fresh_db)
    task = asyncio.create_task(sched.run())
    try:
        await eventually(now(lambda: sched.wakeups >= 2))
        looks = sched.wakeups
        await plan(store, "s-now", T0 - timedelta(minutes=1), note="already due")  # due as it is set
        await eventually(now(lambda: sched.fired == 1))
        assert sched.wakeups <= looks + 2  # woken by the change, not by polling
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert await reminded(pool) == [("s-now", "already due")]


async def test_the_deadlines_of_the_history_before_the_scheduler_are_derived_once(pool):
    before = EventStore(pool, None)  # events stored before the service had a schedule: no deadline rows
    await plan(before, "kept", T0 + timedelta(days=1), note="old")
    await plan(before, "kept", T0 + timedelta(days=2), version=1, note="moved")
    await plan(before, "dropped", T0 + timedelta(days=1))
    await before.append("dropped", [event("dropped", "kim.test.Dropped")], 1)
    async with pool.acquire() as conn:
        assert await pending(conn) == []

    store = EventStore(pool, None, schedule=schedule)
    assert await derive_once(store, schedule) == 4  # three sets (one moves the first) and one cancel
    async with pool.acquire() as conn:
        assert [(d["key"], d["due_at"], d["data"]) for d in await pending(conn)] == [
            ("remind:kept", T0 + timedelta(days=2), {"note": "moved"})]
    assert await derive_once(store, schedule) is None  # once: fired deadlines never come back
