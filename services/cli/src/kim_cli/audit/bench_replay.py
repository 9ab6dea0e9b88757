"""`kim bench replay`: a projection rebuilt from Kafka against a raw aiokafka consumer reading the same topic.

N CloudEvents records go to a fresh topic (batches per partition, many in flight); then, in the same run, a raw
consumer counts them, and rebuild_from_kafka replays them into a counting projection (one write per batch) in a
fresh database. Both rates, their ratio and the target (20,000 events/s) are printed; last, one JSON line.
"""

from __future__ import annotations

import time
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from kim_runtime import db
from kim_runtime.envelope import Envelope
from kim_runtime.contract import FixedContract, OpenData
from kim_runtime.projection import Projection
from kim_runtime.rebuild import rebuild_from_kafka

TARGET = 20_000
STREAMS = 1000


class EventCount(Projection):
    """Counts events: one aggregate write per batch."""

    ddl = "CREATE TABLE IF NOT EXISTS {schema}.total (id int PRIMARY KEY, events bigint NOT NULL)"

    contract = FixedContract({"kim.bench.Counted": OpenData})

    def __init__(self, topic: str):
        self.name, self.topics = "bench_event_count", (topic,)

    async def apply(self, conn, schema, event) -> None:
        await self.apply_batch(conn, schema, [event])

    async def apply_batch(self, conn, schema, events) -> None:
        await conn.execute(f"INSERT INTO {schema}.total VALUES (1, $1) ON CONFLICT (id) "
                           "DO UPDATE SET events = total.events + excluded.events", len(events))


def _headers(template: dict[str, str]) -> list[tuple[str, bytes]]:
    return [(k, v.encode()) for k, v in template.items() if k != "ce_id"]


async def produce(bootstrap: str, topic: str, events: int, partitions: int) -> float:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
    finally:
        await admin.close()
    template = Envelope(type="kim.bench.Counted", source="/kim/bench", stream_id="s", actor="bench",
                        municipality="05978024", stream_version=1).kafka_headers()
    fixed = _headers(template)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=1 << 20, acks=1,
                                max_request_size=8 << 20)
    await producer.start()
    started = time.perf_counter()
    try:
        pending, batches = [], {p: producer.create_batch() for p in range(partitions)}
        for n in range(events):
            p = n % partitions
            key = f"stream-{n % STREAMS}".encode()
            value = b'{"n":%d,"case_id":"case-%d","municipality":"05978024"}' % (n, n % STREAMS)
            headers = [("ce_id", str(uuid.uuid4()).encode()), *fixed]
            if batches[p].append(key=key, value=value, timestamp=None, headers=headers) is None:
                pending.append(await producer.send_batch(batches[p], topic, partition=p))
                batches[p] = producer.create_batch()
                batches[p].append(key=key, value=value, timestamp=None, headers=headers)
                if len(pending) >= 64:
                    for fut in pending:
                        await fut
                    pending.clear()
        for p, batch in batches.items():
            if batch.record_count():
                pending.append(await producer.send_batch(batch, topic, partition=p))
        for fut in pending:
            await fut
    finally:
        await producer.stop()
    return time.perf_counter() - started


async def consume_raw(bootstrap: str, topic: str, events: int) -> tuple[int, float]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                fetch_max_wait_ms=50, max_partition_fetch_bytes=8 << 20, fetch_max_bytes=64 << 20)
    await consumer.start()
    try:
        cluster = await consumer._client.fetch_all_metadata()
        tps = [TopicPartition(topic, p) for p in sorted(cluster.partitions_for_topic(topic) or ())]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        started, count = time.perf_counter(), 0
        while count < events:
            got = await consumer.getmany(timeout_ms=500, max_records=10_000)
            count += sum(len(rs) for rs in got.values())
        return count, time.perf_counter() - started
    finally:
        await consumer.stop()


async def replay(bootstrap: str, dsn: str, topic: str, batch_size: int) -> tuple[int, float]:
    pool = await db.create_pool(dsn, max_size=2)
    try:
        async with pool.acquire() as conn:
            await db.migrate(conn, [])
        projection = EventCount(topic)
        result = await rebuild_from_kafka(projection, pool, bootstrap, batch_size=batch_size)
        async with pool.acquire() as conn:
            counted = await conn.fetchval(f'SELECT events FROM "{projection.name}".total')
        return counted or 0, result.seconds
    finally:
        await pool.close()


async def delete_topic(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([topic])
    finally:
        await admin.close()
