"""rebuild_from_store: two services' stores merged into one projection, interrupted, resumed, swapped in."""

from __future__ import annotations

import pytest

from kim_runtime import db
from kim_runtime.envelope import Envelope
from kim_runtime.replay_store import rebuild_from_store
from kim_runtime.store import EventStore

from .projections import CountPerStream

pytestmark = [pytest.mark.postgres]


class Stop(Exception):
    pass


def _event(stream: str, n: int) -> Envelope:
    return Envelope(type="kim.test.Counted", source="/kim/test", stream_id=stream, data={"n": n})


async def _store(url: str, topic: str, streams: int, per_stream: int):
    pool = await db.create_pool(url, max_size=4)
    async with pool.acquire() as conn:
        await db.migrate(conn, [])
    store = EventStore(pool, topic)
    for s in range(streams):
        stream = f"{topic}-s{s}"
        await store.append(stream, [_event(stream, n) for n in range(1, per_stream + 1)], 0)
    return pool


async def _counts(pool, schema: str) -> dict:
    async with pool.acquire() as conn:
        return {r["stream_id"]: (r["n"], r["total"]) for r in await conn.fetch(f'SELECT * FROM "{schema}".counts')}


async def test_interrupted_rebuild_from_two_stores_resumes_and_swaps(fresh_db, stack):
    from kim_cli.stack import create_database, drop_database

    other = fresh_db.rsplit("/", 1)[1] + "_b"
    await create_database(stack.postgres_url, other)
    cases = await _store(fresh_db, "kim.cases", streams=3, per_stream=40)
    staffing = await _store(stack.database_url(other), "kim.staffing", streams=2, per_stream=30)
    projection = CountPerStream("replay_merge", ("kim.cases", "kim.staffing"))
    try:
        async with cases.acquire() as conn:  # the live projection, with a checkpoint of its live consumer
            await projection.create_schema(conn)
            await conn.execute('INSERT INTO checkpoints (consumer, topic, partition, "offset") '
                               "VALUES ('replay_merge', 'kim.cases', 0, 119)")
        stores = {"kim.cases": cases, "kim.staffing": staffing}
        calls = []

        def interrupt(done, total):
            calls.append((done, total))
            raise Stop

        with pytest.raises(Stop):
            await rebuild_from_store(projection, cases, stores, batch_size=50, progress=interrupt)
        assert calls == [(50, 180)]
        assert await _counts(cases, "replay_merge") == {}, "the live tables changed before the swap"

        seen = []
        result = await rebuild_from_store(projection, cases, stores, batch_size=50,
                                          progress=lambda d, t: seen.append((d, t)))
        assert (result.events_applied, result.duplicates, result.undecodable) == (130, 0, 0)
        assert seen[-1] == (130, 130)
        expected = {f"kim.cases-s{s}": (40, 820) for s in range(3)} | {f"kim.staffing-s{s}": (30, 465) for s in range(2)}
        assert await _counts(cases, "replay_merge") == expected
        async with cases.acquire() as conn:
            schemas = {r["nspname"] for r in await conn.fetch("SELECT nspname FROM pg_namespace")}
            checkpoints = await conn.fetch('SELECT consumer, topic, "offset" FROM checkpoints')
            claimed = await conn.fetchval("SELECT count(*) FROM inbox WHERE consumer = 'replay_merge'")
        assert not {"replay_merge__rebuild", "replay_merge__old"} & schemas
        assert [tuple(r) for r in checkpoints] == [("replay_merge", "kim.cases", 119)], "live checkpoints kept"
        assert claimed == 180, "the live consumer now skips what the rebuild applied"
    finally:
        await cases.close()
        await staffing.close()
        await drop_database(stack.postgres_url, other)


async def test_an_event_the_live_projection_handled_is_never_lost(fresh_db):
    pool = await _store(fresh_db, "kim.cases", streams=1, per_stream=10)
    projection = CountPerStream("replay_live", ("kim.cases",))
    try:
        async with pool.acquire() as conn:
            await projection.create_schema(conn)
            late = await conn.fetchval("SELECT event_id FROM events WHERE version = 3")
            # the live consumer handled event 3; the rebuild's checkpoint says it is past it (a late commit)
            await conn.execute("INSERT INTO inbox (consumer, event_id) VALUES ('replay_live', $1)", late)
            await projection.create_schema(conn, "replay_live__rebuild")
            await conn.execute("INSERT INTO store_checkpoints (consumer, topic, position) "
                               "VALUES ('replay_live__rebuild', 'kim.cases', 5)")
        result = await rebuild_from_store(projection, pool, {"kim.cases": pool})
        assert result.events_applied == 6  # 6..10 from the checkpoint on, and 3 from the live inbox
        assert await _counts(pool, "replay_live") == {"kim.cases-s0": (6, 3 + 6 + 7 + 8 + 9 + 10)}
    finally:
        await pool.close()


async def test_a_topic_without_a_store_is_refused(fresh_db):
    pool = await db.create_pool(fresh_db)
    try:
        with pytest.raises(ValueError, match="kim.referrals"):
            await rebuild_from_store(CountPerStream("x", ("kim.referrals",)), pool, {})
    finally:
        await pool.close()


async def test_store_positions_and_kafka_offsets_are_kept_apart(fresh_db):
    """Positions go to store_checkpoints, never to checkpoints (Kafka offsets); migration 007 moves the positions an
    earlier version kept in checkpoints as topic 'store:<topic>'."""
    from importlib import resources

    pool = await _store(fresh_db, "kim.cases", streams=1, per_stream=4)
    projection = CountPerStream("replay_apart", ("kim.cases",))
    try:
        async with pool.acquire() as conn:
            await projection.create_schema(conn)
            await conn.execute('INSERT INTO checkpoints (consumer, topic, partition, "offset") '
                               "VALUES ('replay_apart', 'kim.cases', 0, 3)")
        calls = []

        def interrupt(done, total):
            calls.append(done)
            raise Stop

        with pytest.raises(Stop):
            await rebuild_from_store(projection, pool, {"kim.cases": pool}, batch_size=2, progress=interrupt)
        async with pool.acquire() as conn:
            positions = await conn.fetch("SELECT consumer, topic, position FROM store_checkpoints")
            offsets = await conn.fetch('SELECT consumer, topic, "offset" FROM checkpoints ORDER BY consumer')
            second = await conn.fetchval("SELECT position FROM events WHERE version = 2")
        assert [tuple(r) for r in positions] == [("replay_apart__rebuild", "kim.cases", second)]
        assert [tuple(r) for r in offsets] == [("replay_apart", "kim.cases", 3)]
        result = await rebuild_from_store(projection, pool, {"kim.cases": pool}, batch_size=2)
        assert result.events_applied == 2  # resumed after the store position, not after the Kafka offset
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM store_checkpoints") == 0
            assert [tuple(r) for r in await conn.fetch('SELECT consumer, topic, "offset" FROM checkpoints')] == [
                ("replay_apart", "kim.cases", 3)]
            # what an earlier version left behind moves when migration 007 runs
            await conn.execute('INSERT INTO checkpoints (consumer, topic, partition, "offset", event_time) '
                               "VALUES ('old__rebuild', 'store:kim.cases', 0, 17, now())")
            await conn.execute((resources.files("kim_runtime") / "migrations/008_store_checkpoints.sql").read_text())
            assert await conn.fetchval("SELECT count(*) FROM checkpoints WHERE topic LIKE 'store:%'") == 0
            assert tuple(await conn.fetchrow("SELECT consumer, topic, position FROM store_checkpoints")) == (
                "old__rebuild", "kim.cases", 17)
    finally:
        await pool.close()
