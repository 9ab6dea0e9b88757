"""Contract of the event store against the real PostgreSQL: versions, order, hash chain, concurrency."""

from __future__ import annotations

import asyncio

import pytest

from kim_runtime import db
from kim_runtime.audit_chain import verify_chains
from kim_runtime.envelope import Envelope
from kim_runtime.errors import ConcurrencyConflict
from kim_runtime.store import EventStore

pytestmark = pytest.mark.postgres


def ev(stream: str, n: int, **data) -> Envelope:
    return Envelope(type="kim.test.Counted", source="/kim/test", stream_id=stream, data={"n": n, **data})


@pytest.fixture
async def store(fresh_db):
    pool = await db.create_pool(fresh_db, max_size=20)
    async with pool.acquire() as conn:
        await db.migrate(conn, [])
    yield EventStore(pool, topic="kim.test")
    await pool.close()


async def test_append_assigns_versions_and_reads_back_in_order(store):
    await store.append("s1", [ev("s1", 1), ev("s1", 2)], expected_version=0)
    await store.append("s1", [ev("s1", 3)], expected_version=2)
    events = await store.read_stream("s1")
    assert [e.stream_version for e in events] == [1, 2, 3]
    assert [e.data["n"] for e in events] == [1, 2, 3]
    assert await store.stream_version("s1") == 3


async def test_stale_expected_version_is_a_conflict_and_writes_nothing(store):
    await store.append("s1", [ev("s1", 1)], expected_version=0)
    with pytest.raises(ConcurrencyConflict) as info:
        await store.append("s1", [ev("s1", 2), ev("s1", 3)], expected_version=0)
    assert info.value.actual == 1
    with pytest.raises(ConcurrencyConflict):
        await store.append("s2", [ev("s2", 1)], expected_version=4)
    assert [e.data["n"] for e in await store.read_stream("s1")] == [1]
    async with store.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 1
        assert await conn.fetchval("SELECT count(*) FROM events WHERE stream_id = 's2'") == 0


async def test_each_event_gets_one_outbox_row_in_the_same_transaction(store):
    async with store.pool.acquire() as conn:
        with pytest.raises(RuntimeError):
            async with conn.transaction():
                await store.append("s1", [ev("s1", 1)], 0, conn=conn)
                raise RuntimeError("the caller's transaction fails after the append")
        assert await conn.fetchval("SELECT count(*) FROM events") == 0
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 0
    await store.append("s1", [ev("s1", 1), ev("s1", 2)], 0)
    async with store.pool.acquire() as conn:
        rows = await conn.fetch("SELECT position, topic FROM outbox ORDER BY position")
    assert [r["topic"] for r in rows] == ["kim.test", "kim.test"]


async def test_read_all_follows_global_position(store):
    await store.append("a", [ev("a", 1)], 0)
    await store.append("b", [ev("b", 1)], 0)
    await store.append("a", [ev("a", 2)], 1)
    seen = [(r.envelope.stream_id, r.envelope.data["n"]) async for r in store.read_all(batch_size=2)]
    assert seen == [("a", 1), ("b", 1), ("a", 2)]
    positions = [r.position async for r in store.read_all(from_position=1)]
    assert len(positions) == 2 and positions == sorted(positions)


async def test_many_concurrent_appenders_to_one_stream_never_lose_or_duplicate(store):
    """20 writers race on one stream, each retrying on conflict: every event lands once, versions have no gap."""

    async def writer(w: int) -> int:
        conflicts = 0
        for i in range(5):
            while True:
                version = await store.stream_version("hot")
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
