"""The event store contract (tests/store_contract.py) against the real PostgreSQL, and what only PostgreSQL has:
the hash chain linking each event to its predecessor, and the verifier that finds a broken link."""

from __future__ import annotations

import pytest

from kim_runtime.audit_chain import verify_chains
from kim_runtime.store import EventStore
from tests.store_contract import SCHEDULE, TOPIC, StoreContract, ev

pytestmark = pytest.mark.postgres


@pytest.fixture
def store(pool):
    return EventStore(pool, topic=TOPIC, schedule=SCHEDULE)


class TestPostgresStore(StoreContract):
    @pytest.fixture
    def unpublished_store(self, pool):
        return EventStore(pool, topic=None)

    async def outbox(self, store):
        async with store.pool.acquire() as conn:
            return [(r["position"], r["topic"]) for r in await conn.fetch("SELECT position, topic FROM outbox "
                                                                          "ORDER BY position")]

    async def deadline_keys(self, store):
        async with store.pool.acquire() as conn:
            return {r["key"] for r in await conn.fetch("SELECT key FROM deadlines")}

    async def test_concurrent_appends_keep_every_chain_intact(self, store):
        await self.test_many_concurrent_appenders_to_one_stream_never_lose_or_duplicate(store)
        assert (await verify_chains(store.pool)).ok


async def test_hash_chain_links_each_event_to_its_predecessor(store):
    await store.append("s1", [ev("s1", 1), ev("s1", 2), ev("s1", 3)], 0)
    async with store.pool.acquire() as conn:
        rows = await conn.fetch("SELECT version, prev_hash, hash FROM events WHERE stream_id='s1' ORDER BY version")
    assert rows[0]["prev_hash"] == b""
    assert [r["prev_hash"] for r in rows[1:]] == [r["hash"] for r in rows[:-1]]
    assert len({r["hash"] for r in rows}) == 3
    assert (await verify_chains(store.pool)).ok


@pytest.mark.parametrize("tamper", ["edit", "delete", "reorder"])
async def test_verifier_finds_edited_deleted_and_reordered_events(store, tamper):
    await store.append("s1", [ev("s1", i) for i in range(1, 6)], 0)
    await store.append("s2", [ev("s2", 1)], 0)
    async with store.pool.acquire() as conn:
        if tamper == "edit":
            await conn.execute("""UPDATE events SET data = '{"n": 99}' WHERE stream_id='s1' AND version=3""")
        elif tamper == "delete":
            await conn.execute("DELETE FROM outbox WHERE position IN (SELECT position FROM events "
                               "WHERE stream_id='s1' AND version=3)")
            await conn.execute("DELETE FROM events WHERE stream_id='s1' AND version=3")
        else:  # swap the contents of versions 2 and 3, each with its own hashes
            await conn.execute("UPDATE events SET version = -version WHERE stream_id='s1' AND version IN (2, 3)")
            await conn.execute("UPDATE events SET version = CASE version WHEN -2 THEN 3 ELSE 2 END "
                               "WHERE stream_id='s1' AND version IN (-2, -3)")
    report = await verify_chains(store.pool)
    assert not report.ok
    assert report.first_break.stream_id == "s1"
    # an edit breaks its own hash; a deletion shows at the event after the gap; a swap at the first moved event
    assert report.first_break.version == {"edit": 3, "delete": 4, "reorder": 2}[tamper]
    assert report.first_break.problem
