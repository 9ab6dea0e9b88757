"""The live consumer handles what one fetch brought in one transaction, with the inbox claims of the whole batch in one
statement: each event has exactly one effect, in its key's order; an event already claimed (redelivered) or twice in
the batch has none the second time; a poison event in the middle of a batch goes to the dead-letter topic alone and
its neighbours are applied once each."""

from __future__ import annotations

import pytest

from .harness import Harness, Recorder, event, eventually, raw_producer, unique
from .test_outbox_to_consumer import _read_all, _when

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def _watch_batches(h: Harness) -> list[int]:
    """The sizes of the batches the runner is given (to show the test ran batches, not records one by one)."""
    sizes: list[int] = []
    process_batch = h.consumers.process_batch

    async def recording(handler, records):
        sizes.append(len(records))
        return await process_batch(handler, records)

    h.consumers.process_batch = recording
    return sizes


async def _produce(bootstrap: str, topic: str, envelopes, partition: int = 0) -> list[int]:
    async with raw_producer(bootstrap) as producer:
        return [(await producer.send_and_wait(topic, e.kafka_value(), key=e.stream_id.encode(), partition=partition,
                                              headers=[(k, v.encode()) for k, v in e.kafka_headers().items()])).offset
                for e in envelopes]


async def test_a_batch_applies_each_event_once_in_order_and_skips_claimed_and_repeated_ones(fresh_db, kafka_bootstrap):
    topic, dlq = unique("kim.test"), unique("kim.dlq")
    async with Harness(fresh_db, kafka_bootstrap, topic, dlq) as h:
        h.consumers.add(Recorder(topic))
        sizes = _watch_batches(h)
        events = [event(f"s{i % 3}", i) for i in range(1, 31)]
        async with h.pool.acquire() as conn:  # events 1 and 2 were handled before (a redelivery)
            await conn.execute("INSERT INTO inbox (consumer, event_id) VALUES ('recorder', $1), ('recorder', $2)",
                               events[0].id, events[1].id)
        # all on one partition before the consumer starts (one fetch), event 10 twice in a row
        await _produce(kafka_bootstrap, topic, events[:10] + events[9:])
        await h.start(relay=False)
        rows = await eventually(lambda: _when(h.effects(), lambda r: len(r) >= 28))
        async with h.pool.acquire() as conn:
            checkpoint = await conn.fetchrow("SELECT \"offset\", event_time FROM checkpoints "
                                             "WHERE consumer = 'recorder' AND topic = $1 AND partition = 0", topic)
    assert max(sizes) > 1, f"no batch of more than one record: {sizes}"
    assert [r["n"] for r in rows] == list(range(3, 31)), "an event applied twice, skipped, or out of order"
    assert checkpoint["offset"] == 30 and checkpoint["event_time"] == events[-1].time


async def test_a_poison_event_in_a_batch_is_parked_alone_and_its_neighbours_are_applied_once(
    fresh_db, kafka_bootstrap
):
    topic, dlq = unique("kim.test"), unique("kim.dlq")
    async with Harness(fresh_db, kafka_bootstrap, topic, dlq) as h:
        h.consumers.add(Recorder(topic))  # fails on events that ask for it, every attempt: poison
        sizes = _watch_batches(h)
        events = [event("s1", i, fail=(i == 4)) for i in range(1, 9)]
        offsets = await _produce(kafka_bootstrap, topic, events)
        await h.start(relay=False)
        rows = await eventually(lambda: _when(h.effects(), lambda r: len(r) >= 7))
        parked = await _read_all(kafka_bootstrap, dlq, 1)
        async with h.pool.acquire() as conn:
            claims = await conn.fetchval("SELECT count(*) FROM inbox WHERE consumer = 'recorder'")
    assert max(sizes) > 1, f"no batch of more than one record: {sizes}"
    assert [r["n"] for r in rows] == [1, 2, 3, 5, 6, 7, 8]
    assert len(parked) == 1
    headers = dict(parked[0].headers)
    assert int(headers["dlq_offset"]) == offsets[3] and headers["dlq_reason"] == b"handler-failed"
    assert claims == 7  # the parked one's claim was rolled back with its failed attempts
