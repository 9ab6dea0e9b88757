"""The append that is a request's effect marks the request's Idempotency-Key claim `applied` in the same statement:
both commit together, and an append whose claim was taken over or pruned meanwhile raises KeyLost and leaves
nothing behind, in the caller's transaction or on its own."""

from __future__ import annotations

import pytest

from kim_runtime import idempotency
from kim_runtime.idempotency import Claim, IdempotencyStore, KeyLost
from kim_runtime.store import EventStore
from tests.store_contract import SCHEDULE, TOPIC, ev

pytestmark = pytest.mark.postgres


@pytest.fixture
def store(pool):
    return EventStore(pool, topic=TOPIC, schedule=SCHEDULE)


async def _claim(pool, key: str) -> Claim:
    keys = IdempotencyStore(pool, ttl_s=3600, lease_s=60)
    decision = await keys.claim("case_manager:ma-1:", key, "fp")
    assert decision.kind == "claimed"
    return Claim(keys, "case_manager:ma-1:", key, decision.claim_id)


async def _state(pool, key: str) -> str | None:
    async with pool.acquire() as conn:
        return await conn.fetchval("SELECT state FROM idempotency_keys WHERE key = $1", key)


async def _events(pool, stream: str) -> int:
    async with pool.acquire() as conn:
        return await conn.fetchval("SELECT count(*) FROM events WHERE stream_id = $1", stream)


@pytest.mark.parametrize("in_transaction", [False, True])
@pytest.mark.parametrize("remind", [False, True])  # with a deadline: kim_append's ten-argument form
async def test_the_append_marks_its_claim_applied(store, pool, in_transaction, remind):
    claim = await _claim(pool, f"k-{in_transaction}-{remind}")
    token = idempotency.CURRENT.set(claim)
    try:
        events = [ev("s-1", 1, remind=remind), ev("s-1", 2)]
        if in_transaction:
            async with pool.acquire() as conn, conn.transaction():
                recorded = await store.append("s-1", events, 0, conn=conn)
        else:
            recorded = await store.append("s-1", events, 0)
    finally:
        idempotency.CURRENT.reset(token)
    assert [r.envelope.stream_version for r in recorded] == [1, 2]
    assert claim.applied
    assert await _state(pool, claim.key) == "applied"
    assert await _events(pool, "s-1") == 2


@pytest.mark.parametrize("in_transaction", [False, True])
async def test_an_append_whose_claim_was_lost_raises_and_leaves_nothing(store, pool, in_transaction):
    claim = await _claim(pool, "lost")
    async with pool.acquire() as conn:  # pruned (or taken over) while the request ran
        await conn.execute("DELETE FROM idempotency_keys WHERE key = 'lost'")
    token = idempotency.CURRENT.set(claim)
    try:
        with pytest.raises(KeyLost):
            if in_transaction:
                async with pool.acquire() as conn, conn.transaction():
                    await store.append("s-2", [ev("s-2", 1)], 0, conn=conn)
            else:
                await store.append("s-2", [ev("s-2", 1)], 0)
    finally:
        idempotency.CURRENT.reset(token)
    assert not claim.applied
    assert await _events(pool, "s-2") == 0
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 0
