"""The outbox relay's lease on the real stack: one leader per database, a follower takes over when the leader stops
or dies, a relay whose lease was taken marks nothing, and a lost LISTEN connection is reopened.

Each relay has its own pool and LISTEN connection, named by application_name, so a test can terminate exactly the
sessions of one relay the way a PostgreSQL restart or an operator's pg_terminate_backend would.
"""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
import pytest

from kim_runtime import db
from kim_runtime.kafka import ensure_topics, make_broker
from kim_runtime.outbox import OutboxRelay, RelayState
from kim_runtime.settings import RuntimeSettings
from kim_runtime.store import EventStore

from tests.e2e.support import read_topic

from .harness import TEST_PARTITIONS, event, eventually, unique

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
LEASE_S = 2.0


class Replica:
    """One relay as a service process has it: its own pool, broker and LISTEN connection."""

    def __init__(self, dsn: str, bootstrap: str, name: str):
        self.name, self.dsn = name, f"{dsn}?application_name={name}"
        self.broker = make_broker(RuntimeSettings(service=name, database_url=dsn, kafka_bootstrap=bootstrap))
        self.task: asyncio.Task | None = None

    async def start(self) -> Replica:
        self.pool = await db.create_pool(self.dsn, max_size=4)
        await self.broker.start()
        self.relay = OutboxRelay(self.pool, self.broker, dsn=self.dsn, poll_interval=0.2, lease_s=LEASE_S)
        self.task = asyncio.create_task(self.relay.run())
        return self

    async def die(self) -> None:
        """Stop as a killed process would: without giving the lease back."""
        self.relay.token = None
        await self.stop()

    async def stop(self) -> None:
        if self.task:
            self.task.cancel()
            with contextlib.suppress(BaseException):
                await self.task
            self.task = None
            await self.broker.stop()
            await self.pool.close()


@pytest.fixture
async def setup(fresh_db, kafka_bootstrap):
    topic = unique("kim.lease")
    await ensure_topics(kafka_bootstrap, {topic: TEST_PARTITIONS})  # brokers never auto-create a topic
    pool = await db.create_pool(fresh_db, max_size=4)
    async with pool.acquire() as conn:
        await db.migrate(conn, [])
    replicas = [Replica(fresh_db, kafka_bootstrap, f"relay_{n}") for n in ("a", "b")]
    try:
        yield EventStore(pool, topic), pool, replicas, topic, kafka_bootstrap
    finally:
        for r in replicas:
            await r.stop()
        await pool.close()


async def leader_of(replicas: list[Replica]) -> Replica | None:
    leaders = [r for r in replicas if r.task and r.relay.state is RelayState.LEADER]
    assert len(leaders) <= 1, "two relays lead at once"
    return leaders[0] if leaders else None


async def append_many(store: EventStore, streams: int, start: int, count: int) -> None:
    for n in range(start, start + count):
        stream = f"s{n % streams}"
        await store.append(stream, [event(stream, n)], expected_version=n // streams)


async def pending(pool) -> int:
    async with pool.acquire() as conn:
        return await conn.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL")


async def test_one_leader_publishes_and_a_follower_takes_over_when_it_stops_or_dies(setup):
    store, pool, replicas, topic, bootstrap = setup
    for r in replicas:
        await r.start()
    first = await eventually(lambda: leader_of(replicas))
    await append_many(store, 4, 0, 40)
    await eventually(lambda: _is(pending(pool), 0))
    assert first.relay.published == 40
    assert sum(r.relay.published for r in replicas) == 40, "the follower published too"

    # a clean stop gives the lease back: the follower leads without waiting for it to expire
    await first.stop()
    loop = asyncio.get_running_loop()
    stopped_at = loop.time()
    second = await eventually(lambda: leader_of(replicas))
    assert second is not first and loop.time() - stopped_at < LEASE_S
    await append_many(store, 4, 40, 20)
    await eventually(lambda: _is(pending(pool), 0))
    assert second.relay.published == 20

    # a death keeps the lease until it expires; then the restarted first replica takes over
    await first.start()
    await second.die()
    died_at = loop.time()
    await append_many(store, 4, 60, 20)
    third = await eventually(lambda: leader_of(replicas))
    assert third is first
    took = loop.time() - died_at
    assert LEASE_S * 0.5 <= took <= LEASE_S * 3, f"took over after {took:.1f} s with a {LEASE_S} s lease"
    await eventually(lambda: _is(pending(pool), 0))

    records = await read_topic(bootstrap, topic)
    assert len(records) == 80, "an event was published twice or not at all"
    async with pool.acquire() as conn:
        tokens = await conn.fetchval("SELECT token FROM relay_lease WHERE name = 'outbox'")
    assert tokens == 3


async def test_a_relay_whose_lease_was_taken_stops_publishing_and_marks_nothing(setup):
    store, pool, replicas, _topic, _bootstrap = setup
    a = await replicas[0].start()
    await eventually(lambda: leader_of([a]))
    async with pool.acquire() as conn:  # another relay takes the lease, as after a partition of the leader
        await conn.execute("UPDATE relay_lease SET token = token + 1, holder = 'intruder', "
                           "expires_at = now() + interval '1 hour'")
    await eventually(lambda: _is_state(a, RelayState.FOLLOWER))
    await append_many(store, 2, 0, 10)
    await asyncio.sleep(LEASE_S)
    assert await pending(pool) == 10 and a.relay.published == 0
    async with pool.acquire() as conn:  # the intruder dies: its lease expires and the relay leads again
        await conn.execute("UPDATE relay_lease SET expires_at = now()")
    await eventually(lambda: _is(pending(pool), 0))
    assert a.relay.state is RelayState.LEADER and a.relay.published == 10


async def test_terminated_sessions_listen_again_and_the_leader_goes_on(setup):
    store, pool, replicas, _topic, _bootstrap = setup
    a = await replicas[0].start()
    await eventually(lambda: _listening_leader(a))
    async with pool.acquire() as conn:  # what a PostgreSQL restart does to this relay's sessions
        killed = await conn.fetchval("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                     "WHERE application_name = $1", a.name)
    assert killed >= 2  # the LISTEN connection and the pool's
    await eventually(lambda: _is(a.relay.listens, 2), timeout=15)
    await eventually(lambda: _listening_leader(a), timeout=15)
    await append_many(store, 2, 0, 10)
    await eventually(lambda: _is(pending(pool), 0))
    assert a.relay.published == 10
    async with pool.acquire() as conn:
        sessions = await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 "
                                       "AND query ILIKE 'LISTEN%'", a.name)
    assert sessions == 1


async def _listening_leader(r: Replica) -> bool:
    return r.relay.state is RelayState.LEADER and r.relay.listening


async def _is_state(r: Replica, state: RelayState) -> bool:
    return r.relay.state is state


async def _is(coro, value) -> bool:
    return (await coro if asyncio.iscoroutine(coro) else coro) == value


async def test_a_confirmed_batch_whose_mark_was_lost_is_marked_not_published_again(setup):
    store, pool, replicas, topic, bootstrap = setup
    a = await replicas[0].start()
    await eventually(lambda: leader_of([a]))
    mark, failures = a.relay._mark_sent, []

    async def mark_lost_once(positions):
        if not failures:
            failures.append(positions)
            raise asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation")
        await mark(positions)

    a.relay._mark_sent = mark_lost_once
    await append_many(store, 2, 0, 10)
    await eventually(lambda: _is(pending(pool), 0))
    assert failures and a.relay.published == 10
    records = await read_topic(bootstrap, topic)
    assert len(records) == 10, "the batch was published again"


async def test_the_service_restarts_a_crashed_relay_and_shows_its_state_on_readyz_and_metrics(
        fresh_db, kafka_bootstrap, monkeypatch):
    from fastapi.testclient import TestClient
    from prometheus_client import REGISTRY

    from kim_runtime.http import create_app
    from kim_runtime.service import ServiceRuntime

    run, calls = OutboxRelay.run, []

    async def crashes_once(self):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("relay bug")
        await run(self)

    monkeypatch.setattr(OutboxRelay, "run", crashes_once)
    service = "staffing"  # a service that publishes; nothing is appended, so nothing reaches its topic
    restarts = REGISTRY.get_sample_value("kim_relay_restarts_total", {"service": service}) or 0.0
    runtime = ServiceRuntime(RuntimeSettings(service=service, database_url=fresh_db, kafka_bootstrap=kafka_bootstrap),
                             migrations_package=None)
    app = create_app("t", auth_secret="integration-test-secret-0123456789", lifespan=runtime.lifespan,
                     readiness=runtime.readiness())
    with TestClient(app) as client:
        async def leading():
            return runtime.relay and runtime.relay.state is RelayState.LEADER

        await eventually(leading)
        assert runtime.relay.last_error is None  # the crash's message is gone once the restarted relay runs
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["checks"]["relay"] == "ok"
        sample = REGISTRY.get_sample_value
        assert sample("kim_relay_restarts_total", {"service": service}) == restarts + 1
        assert sample("kim_relay_leader", {"service": service}) == 1.0
        assert sample("kim_relay_state", {"service": service, "state": "leader"}) == 1.0
        assert sample("kim_relay_state", {"service": service, "state": "follower"}) == 0.0
        assert sample("kim_relay_listening", {"service": service}) == 1.0
        assert 0 < sample("kim_relay_lease_seconds_left", {"service": service}) <= 5.0
        assert client.get("/metrics").text.count(f'kim_relay_state{{service="{service}"') == len(RelayState)
        runtime.relay.last_error = "publishing failed: KafkaConnectionError()"  # what a failing batch leaves
        down = client.get("/readyz")
        assert down.status_code == 503 and down.headers["Retry-After"] == "2"
        assert down.json()["checks"]["relay"] == "down: leader, publishing failed: KafkaConnectionError()"
    assert len(calls) == 2
