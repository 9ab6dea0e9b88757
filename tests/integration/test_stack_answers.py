"""The session stack is real: Kafka takes a record round trip, PostgreSQL answers in a fresh database."""

from __future__ import annotations

import uuid

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from kim_cli.stack import SERVICE_DATABASES


async def test_kafka_creates_a_topic_and_round_trips_one_record(kafka_bootstrap):
    topic = f"kim.test.stack-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
        assert topic in await admin.list_topics()
    finally:
        await admin.close()

    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        sent = await producer.send_and_wait(topic, b'{"n": 1}', key=b"stream-1", headers=[("ce_type", b"kim.test.X")])
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=kafka_bootstrap, group_id=f"g-{topic}",
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        record = await consumer.getone()
    finally:
        await consumer.stop()
    assert (record.partition, record.offset) == (sent.partition, sent.offset)
    assert (record.key, record.value) == (b"stream-1", b'{"n": 1}')
    assert dict(record.headers)["ce_type"] == b"kim.test.X"


async def test_postgres_answers_in_a_fresh_database(fresh_db):
    conn = await asyncpg.connect(fresh_db)
    try:
        assert await conn.fetchval("select 1") == 1
        assert await conn.fetchval("select current_database()") == fresh_db.rsplit("/", 1)[1]
        assert await conn.fetchval("select count(*) from pg_tables where schemaname = 'public'") == 0
    finally:
        await conn.close()


async def test_every_service_has_its_database(stack):
    conn = await asyncpg.connect(stack.postgres_url)
    try:
        names = {r["datname"] for r in await conn.fetch("select datname from pg_database")}
    finally:
        await conn.close()
    assert set(SERVICE_DATABASES) <= names
