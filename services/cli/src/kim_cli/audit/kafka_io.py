"""Reading a whole topic with a plain aiokafka consumer (no group, nothing committed)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiokafka import AIOKafkaConsumer, TopicPartition


async def partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    # consumer.partitions_for_topic only knows assigned topics; a full metadata fetch knows them all
    cluster = await consumer._client.fetch_all_metadata()
    return [TopicPartition(topic, p) for p in sorted(cluster.partitions_for_topic(topic) or ())]


async def read_topic(bootstrap: str, topic: str, *, batch: int = 10_000) -> AsyncIterator[list]:
    """Every record the topic holds now, in batches; nothing if the topic does not exist."""
    from kim_cli.audit.connect import kafka_options  # noqa: PLC0415

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                fetch_max_wait_ms=50, max_partition_fetch_bytes=8 << 20, **kafka_options())
    try:
        await consumer.start()
        tps = await partitions(consumer, topic)
        if not tps:
            return
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        while True:
            behind = [tp for tp in tps if await consumer.position(tp) < ends[tp]]
            if not behind:
                return
            got = await consumer.getmany(*behind, timeout_ms=500, max_records=batch)
            records = [r for tp, rs in got.items() for r in rs if r.offset < ends[tp]]
            if records:
                yield records
    finally:
        await consumer.stop()
