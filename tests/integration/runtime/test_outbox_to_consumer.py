"""Through the real broker: appended events arrive once, in stream order; poison is parked; the partition moves on."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from .harness import Harness, Recorder, event, eventually, unique

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def test_appended_events_are_consumed_once_in_stream_order(fresh_db, kafka_bootstrap):
    topic = unique("kim.test")
    async with Harness(fresh_db, kafka_bootstrap, topic, unique("kim.dlq")) as h:
        h.consumers.add(Recorder(topic))
        await h.start()
        for i in range(1, 31):
            await h.store.append(f"s{i % 3}", [event(f"s{i % 3}", i)], expected_version=(i - 1) // 3)
        rows = await eventually(lambda: _when(h.effects(), lambda r: len(r) >= 30))
        assert sorted(r["n"] for r in rows) == list(range(1, 31))
        for s in ("s0", "s1", "s2"):
            ns = [r["n"] for r in rows if r["stream_id"] == s]
            assert ns == sorted(ns), f"stream {s} handled out of order: {ns}"
        # the relay marks a batch sent after Kafka's ack, and the consumer may have handled it before that commit
        async def all_marked() -> bool:
            return await h.relay.pending() == 0

        assert await eventually(all_marked)


async def test_poison_and_failing_events_go_to_the_dead_letter_topic_and_the_partition_moves_on(
    fresh_db, kafka_bootstrap
):
    topic, dlq = unique("kim.test"), unique("kim.dlq")
    async with Harness(fresh_db, kafka_bootstrap, topic, dlq) as h:
        h.consumers.add(Recorder(topic))
        await h.start(relay=False)
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await producer.start()
        try:
            # all on one key, so one partition: the good events after the bad ones prove the partition moved on
            await producer.send_and_wait(topic, b"{definitely not json", key=b"s1", headers=[("ce_id", b"x")])
            for env in [event("s1", 1, fail=True), event("s1", 2)]:
                await producer.send_and_wait(topic, env.kafka_value(), key=b"s1",
                                             headers=[(k, v.encode()) for k, v in env.kafka_headers().items()])
        finally:
            await producer.stop()
        rows = await eventually(lambda: _when(h.effects(), lambda r: len(r) >= 1))
        assert [r["n"] for r in rows] == [2]
        parked = await _read_all(kafka_bootstrap, dlq, 2)
        errors = sorted(dict(m.headers)["dlq_error"].decode() for m in parked)
        assert "missing CloudEvents header" in errors[0]
        assert "asks to fail" in errors[1]
        failed = next(m for m in parked if b"asks to fail" in dict(m.headers)["dlq_error"])
        assert dict(failed.headers)["dlq_attempts"] == b"3"
        assert dict(failed.headers)["dlq_topic"].decode() == topic
        assert {m.value for m in parked} >= {b"{definitely not json"}
        async with h.pool.acquire() as conn:  # parked records count as passed: no lag is left behind them
            offsets = await conn.fetch('SELECT "offset" FROM checkpoints WHERE consumer = $1', "recorder")
        assert [r["offset"] for r in offsets] == [2]


async def _when(coro, pred):
    value = await coro
    return value if pred(value) else None


async def _read_all(bootstrap: str, topic: str, n: int):
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                group_id=None, enable_auto_commit=False)
    await consumer.start()
    got = []
    try:
        async def enough():
            batch = await consumer.getmany(timeout_ms=200)
            got.extend(m for ms in batch.values() for m in ms)
            return len(got) >= n

        await eventually(enough)
    finally:
        await consumer.stop()
    return got
