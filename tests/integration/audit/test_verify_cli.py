"""`kim audit verify` end to end: rows edited, deleted and reordered in PostgreSQL are found, and so are events
missing from Kafka or changed there."""

from __future__ import annotations

import json
import re

import pytest

from kim_runtime import db
from kim_runtime.envelope import Envelope
from kim_runtime.kafka import ensure_topics
from kim_runtime.store import EventStore

from ..runtime.harness import Harness, event, eventually, raw_producer, unique
from . import cli

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def _published_store(dsn: str, bootstrap: str, topic: str) -> None:
    """Streams s1 (5 events) and s2 (3 events), published to `topic` by the real outbox relay."""
    async with Harness(dsn, bootstrap, topic, unique("kim.dlq")) as h:
        await h.start()
        await h.store.append("s1", [event("s1", n) for n in range(1, 6)], 0)
        await h.store.append("s2", [event("s2", n) for n in range(1, 4)], 0)

        async def all_sent():
            async with h.pool.acquire() as conn:
                return await conn.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0

        await eventually(all_sent)


async def _verify(dsn: str, bootstrap: str, topic: str, *extra: str) -> tuple[int, str]:
    code, out, err = await cli.run("audit", "verify", "--service", "cases", "--topic", f"cases={topic}", *extra,
                                   "--anchor-topic", unique("kim.test.anchors"),  # none: tests/.../test_anchors.py
                                   env=cli.environment(KIM_CASES_DATABASE_URL=dsn, KIM_KAFKA_BOOTSTRAP=bootstrap))
    assert code in (0, 1), err
    return code, out + err


async def _sql(dsn: str, *statements: str) -> None:
    conn = await db.connect(dsn)
    try:
        async with conn.transaction():
            for sql in statements:
                await conn.execute(sql)
    finally:
        await conn.close()


async def test_an_untouched_history_verifies(fresh_db, kafka_bootstrap):
    topic = unique("kim.test")
    await _published_store(fresh_db, kafka_bootstrap, topic)
    code, out = await _verify(fresh_db, kafka_bootstrap, topic)
    assert code == 0, out
    assert "cases: 8 events in 2 streams: every hash chain holds" in out
    assert f"cases: topic {topic}: 8 events match the store" in out


TAMPERING = {
    "edited": (["UPDATE events SET data = jsonb_set(data, '{n}', '99') WHERE stream_id = 's1' AND version = 2"],
               "stream s1 version 2: the content does not match its hash"),
    "deleted": (["DELETE FROM outbox WHERE position = (SELECT position FROM events WHERE stream_id = 's1' AND version = 3)",
                 "DELETE FROM events WHERE stream_id = 's1' AND version = 3"],
                "stream s1 version 4: version 4 follows 2: an event was removed"),
    "reordered": (["UPDATE events SET version = -version WHERE stream_id = 's1' AND version IN (2, 3)",
                   "UPDATE events SET version = CASE version WHEN -2 THEN 3 ELSE 2 END "
                   "WHERE stream_id = 's1' AND version IN (-2, -3)"],
                  "stream s1 version 2: the content does not match its hash"),
    "cut off at the end": (["DELETE FROM outbox WHERE position = (SELECT position FROM events WHERE stream_id = 's2' AND version = 3)",
                            "DELETE FROM events WHERE stream_id = 's2' AND version = 3"],
                           "stream s2 version 3: the stream head does not match its last event"),
}


@pytest.mark.parametrize("how", TAMPERING)
async def test_tampered_rows_are_found_with_stream_and_version(fresh_db, kafka_bootstrap, how):
    topic = unique("kim.test")
    await _published_store(fresh_db, kafka_bootstrap, topic)
    statements, expected = TAMPERING[how]
    await _sql(fresh_db, *statements)
    code, out = await _verify(fresh_db, kafka_bootstrap, topic)
    assert code == 1, out
    assert f"[broken chain] cases: {expected}" in out


async def _stored_as_sent(dsn: str, bootstrap: str, topic: str) -> list[Envelope]:
    """Stream s1 with 4 events in the store, its outbox marked sent; the topic exists and is empty."""
    await ensure_topics(bootstrap, {topic: 1})
    pool = await db.create_pool(dsn)
    try:
        async with pool.acquire() as conn:
            await db.migrate(conn, [])
        store = EventStore(pool, topic)
        await store.append("s1", [event("s1", n) for n in range(1, 5)], 0)
        events = await store.read_stream("s1")
        async with pool.acquire() as conn:  # as if the relay had sent them all
            await conn.execute("UPDATE outbox SET sent_at = now()")
    finally:
        await pool.close()
    return events


async def _produce(bootstrap: str, topic: str, events: list[Envelope], changed: Envelope | None = None) -> None:
    async with raw_producer(bootstrap) as producer:
        for e in events:
            value = json.dumps({"n": 1000}).encode() if e is changed else e.kafka_value()
            headers = [(k, v.encode()) for k, v in e.kafka_headers().items()]
            await producer.send_and_wait(topic, value, key=e.kafka_key(), headers=headers, partition=0)


async def test_kafka_missing_an_event_or_holding_a_changed_one_is_found(fresh_db, kafka_bootstrap):
    topic = unique("kim.test")
    events = await _stored_as_sent(fresh_db, kafka_bootstrap, topic)
    lost, changed = events[1], events[2]
    stranger = Envelope(type="kim.test.Counted", source="/kim/test", stream_id="s9", data={"n": 1})
    await _produce(kafka_bootstrap, topic, [e for e in [*events, stranger] if e is not lost], changed)

    code, out = await _verify(fresh_db, kafka_bootstrap, topic)
    assert code == 1, out
    assert "every hash chain holds" in out
    assert f"cases: topic {topic}: 2 events match the store" in out
    assert f"[missing from Kafka] cases: stream s1 version 2, event {lost.id}: marked sent, but not on {topic}" in out
    assert f"[differs] cases: stream s1 version 3, event {changed.id}: Kafka and the store differ in value" in out
    [extra] = [line.strip() for line in out.splitlines() if line.strip().startswith("[foreign data]")]
    assert extra.startswith(f"[foreign data] cases: stream s9 version 0, event {stranger.id}, {topic}[0]@3, at 20")
    assert extra.endswith(", from /kim/test: on " + topic + " but produced by /kim/test, not by this deployment's "
                          "cases service, and in no store (kim.test.Counted)"), extra
    assert f"cases: topic {topic}: 1 record(s) from /kim/test in no store from 20" in out  # producer, time range
    assert "3 finding(s)" in out

    code, out = await _verify(fresh_db, kafka_bootstrap, topic, "--format", "json")
    assert code == 1
    document, _ = json.JSONDecoder().raw_decode(out)  # the JSON document comes first on stdout
    found = {f["kind"]: f for f in document["findings"]}
    assert set(found) == {"missing from Kafka", "differs", "foreign data"}
    assert (found["foreign data"]["event_id"], found["foreign data"]["partition"], found["foreign data"]["offset"],
            found["foreign data"]["producer"]) == (str(stranger.id), 0, 3, "/kim/test")
    assert (found["missing from Kafka"]["stream"], found["missing from Kafka"]["version"]) == ("s1", 2)


# offsets in the topic (one partition) -> the store's events s1 v1..v4 (index 0..3) in the order they are produced
KAFKA_ORDER = {
    "an event published twice": ([0, 1, 2, 3, 3], "[duplicated] cases: event {ids[3]}, {topic}[0]@4, at {t}: the "
                                                  "event id again; first at partition 0 offset 3 at {t}"),
    "a version overtaking another": ([0, 2, 1, 3], "[reordered] cases: stream s1 version 2, {topic}[0]@2, at {t}: "
                                                   "after version 3 at partition 0 offset 1 at {t}"),
}


@pytest.mark.parametrize("how", KAFKA_ORDER)
async def test_a_repeated_event_id_and_a_version_going_backwards_are_found_with_where_and_when(
    fresh_db, kafka_bootstrap, how
):
    topic = unique("kim.test")
    events = await _stored_as_sent(fresh_db, kafka_bootstrap, topic)
    order, expected = KAFKA_ORDER[how]
    await _produce(kafka_bootstrap, topic, [events[i] for i in order])
    code, out = await _verify(fresh_db, kafka_bootstrap, topic)
    assert code == 1, out
    assert "missing from Kafka" not in out and "in no store" not in out and "differ" not in out
    found = [line.strip() for line in out.splitlines() if line.strip().startswith(("[duplicated]", "[reordered]"))]
    assert len(found) == 1, out
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00"
    pattern = re.escape(expected.format(ids=[e.id for e in events], t="TIME", topic=topic)).replace("TIME", stamp)
    assert re.fullmatch(pattern, found[0]), found[0]
