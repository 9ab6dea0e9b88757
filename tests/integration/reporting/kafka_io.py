"""Putting generated histories on the real broker: topics with a test suffix, a plain producer with CloudEvents headers."""

from __future__ import annotations

import contextlib

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from kim_runtime.envelope import Envelope
from kim_runtime.topics import SERVICES, service_topic


async def create_topics(bootstrap: str, suffix: str, partitions: int = 3) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        with contextlib.suppress(TopicAlreadyExistsError):
            await admin.create_topics([NewTopic(service_topic(s) + suffix, partitions, 1) for s in SERVICES])
    finally:
        await admin.close()


async def produce(bootstrap: str, topic: str, events: list[Envelope]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, linger_ms=5)
    await producer.start()
    try:
        futures = [
            await producer.send(topic, e.kafka_value(), key=e.kafka_key(),
                                headers=[(k, v.encode()) for k, v in e.kafka_headers().items()])
            for e in events
        ]
        for f in futures:
            await f
    finally:
        await producer.stop()
