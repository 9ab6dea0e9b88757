"""Writes made in the append's own statement (kim_runtime.store.Write): they commit with the events in one round trip,
with no transaction around them, and neither stays when the other fails (a stale version, a failing write, a lost
Idempotency-Key claim), on their own or in the caller's transaction."""

from __future__ import annotations

import pytest

from kim_runtime import idempotency
from kim_runtime.errors import ConcurrencyConflict
from kim_runtime.idempotency import Claim, IdempotencyStore, KeyLost
from kim_runtime.store import EventStore, Write
from tests import round_trips
from tests.store_contract import SCHEDULE, TOPIC, ev

pytestmark = pytest.mark.postgres


@pytest.fixture
async def store(pool):
    async with pool.acquire() as conn:
        await conn.execute("CREATE TABLE probe (id text PRIMARY KEY, n integer NOT NULL, note text)")
    return EventStore(pool, topic=TOPIC, schedule=SCHEDULE)


def _probe(id_: str, n: int, note: str | None = None) -> Write:
    # its own $1..$3: they follow the append's nine (or ten) parameters in the statement
    return Write("INSERT INTO probe (id, n, note) VALUES ($1, $2, $3)", (id_, n, note))


async def _probes(pool) -> dict[str, tuple[int, str | None]]:
    async with pool.acquire() as conn:
        return {r["id"]: (r["n"], r["note"]) for r in await conn.fetch("SELECT id, n, note FROM probe")}


async def _events(pool, stream: str) -> list[int]:
    async with pool.acquire() as conn:
        return [r["n"] for r in await conn.fetch(
            "SELECT (data->>'n')::int AS n FROM events WHERE stream_id = $1 ORDER BY version", stream)]


async def _append(store, pool, stream, events, version, writes, in_transaction):
    if in_transaction:
        async with pool.acquire() as conn, conn.transaction():
            return await store.append(stream, events, version, conn=conn, writes=writes)
    return await store.append(stream, events, version, writes=writes)


@pytest.mark.parametrize("in_transaction", [False, True])
@pytest.mark.parametrize("remind", [False, True])  # with a deadline: kim_append's ten-argument form
async def test_writes_commit_with_the_append_in_one_statement(store, pool, in_transaction, remind):
    recorded = await _append(store, pool, "s-1", [ev("s-1", 1, remind=remind), ev("s-1", 2)], 0,
                             [_probe("a", 1, "first"), _probe("b", 2)], in_transaction)
    assert [r.envelope.stream_version for r in recorded] == [1, 2]
    assert await _events(pool, "s-1") == [1, 2]
    assert await _probes(pool) == {"a": (1, "first"), "b": (2, None)}


async def test_the_append_with_writes_is_one_round_trip(store, pool):
    async with pool.acquire() as conn:  # warm: the statement prepared, its types known
        await store.append("s-0", [ev("s-0", 1)], 0, conn=conn, writes=[_probe("warm", 0)])
        round_trips.counting(conn._con)  # the pooled proxy's connection
        rt = round_trips.RoundTrips()
        with rt.measure():
            await store.append("s-1", [ev("s-1", 1)], 0, conn=conn, writes=[_probe("a", 1)])
    assert rt.count() == 1, rt.statements()
    assert await _probes(pool) == {"warm": (0, None), "a": (1, None)}


@pytest.mark.parametrize("in_transaction", [False, True])
async def test_a_stale_version_makes_no_write(store, pool, in_transaction):
    await store.append("s-1", [ev("s-1", 1)], 0)
    with pytest.raises(ConcurrencyConflict):
        await _append(store, pool, "s-1", [ev("s-1", 2)], 0, [_probe("a", 1)], in_transaction)
    assert await _events(pool, "s-1") == [1]
    assert await _probes(pool) == {}


@pytest.mark.parametrize("in_transaction", [False, True])
async def test_a_failing_write_makes_no_append(store, pool, in_transaction):
    await store.append("s-0", [ev("s-0", 1)], 0, writes=[_probe("taken", 0)])
    with pytest.raises(Exception, match="probe_pkey"):
        await _append(store, pool, "s-1", [ev("s-1", 1)], 0, [_probe("new", 1), _probe("taken", 2)], in_transaction)
    assert await _events(pool, "s-1") == []
    assert await store.stream_version("s-1") == 0
    assert await _probes(pool) == {"taken": (0, None)}
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 1  # s-0's only


async def _claim(pool, key: str) -> Claim:
    keys = IdempotencyStore(pool, ttl_s=3600, lease_s=60)
    decision = await keys.claim("case_manager:ma-1:", key, "fp")
    assert decision.kind == "claimed"
    return Claim(keys, "case_manager:ma-1:", key, decision.claim_id)


@pytest.mark.parametrize("lost", [False, True])
async def test_writes_and_the_claims_mark_share_the_statement(store, pool, lost):
    claim = await _claim(pool, f"k-{lost}")
    if lost:  # pruned (or taken over) while the request ran
        async with pool.acquire() as conn:
            await conn.execute("DELETE FROM idempotency_keys WHERE key = $1", claim.key)
    token = idempotency.CURRENT.set(claim)
    try:
        if lost:
            with pytest.raises(KeyLost):
                await store.append("s-1", [ev("s-1", 1)], 0, writes=[_probe("a", 1, "x")])
        else:
            await store.append("s-1", [ev("s-1", 1)], 0, writes=[_probe("a", 1, "x")])
    finally:
        idempotency.CURRENT.reset(token)
    async with pool.acquire() as conn:
        state = await conn.fetchval("SELECT state FROM idempotency_keys WHERE key = $1", claim.key)
    if lost:
        assert (claim.applied, state, await _events(pool, "s-1"), await _probes(pool)) == (False, None, [], {})
    else:
        assert (claim.applied, state, await _events(pool, "s-1"), await _probes(pool)) == (
            True, "applied", [1], {"a": (1, "x")})
