"""A service-shaped assembly of the runtime for tests: store + relay + consumers on the real stack."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from functools import partial
from typing import ClassVar

import asyncpg
import pydantic
from aiokafka import AIOKafkaProducer

from kim_runtime import db
from kim_runtime.consumer import ConsumerRunner
from kim_runtime.contract import FixedContract, OpenData
from kim_runtime.envelope import Envelope
from kim_runtime.kafka import ensure_topics, make_broker
from kim_runtime.outbox import OutboxRelay
from kim_runtime.settings import RuntimeSettings
from kim_runtime.store import EventStore
from tests.polling import eventually as _eventually

EFFECTS_DDL = """
CREATE TABLE IF NOT EXISTS effects (event_id uuid PRIMARY KEY, stream_id text, n int, handled_at timestamptz
                                    DEFAULT clock_timestamp());
CREATE TABLE IF NOT EXISTS deliveries (event_id uuid, at timestamptz DEFAULT clock_timestamp());
"""


class Counted(pydantic.BaseModel):
    """The test events' model: a number, optionally a request to fail, anything else a test adds."""

    model_config = pydantic.ConfigDict(extra="allow", frozen=True)
    event_type: ClassVar[str] = "kim.test.Counted"  # a handler names it by the class, like a contract event
    n: int
    fail: bool = False


# kim.test.Noted: a valid type the Recorder does not take
TEST_CONTRACT = FixedContract({"kim.test.Counted": Counted, "kim.test.Noted": OpenData})
TEST_PARTITIONS = 3  # like the local broker's default; service topics have 6 (kim_runtime.topics.PARTITIONS)


class Recorder:
    """A handler whose effect is one row per event; it fails on purpose for events that ask for it."""

    def __init__(self, topic: str, name: str = "recorder"):
        self.name = name
        self.topics = (topic,)

    async def handle(self, conn: asyncpg.Connection, event: Envelope) -> None:
        if event.data.get("fail"):
            raise ValueError(f"event {event.data['n']} asks to fail")
        await conn.execute(
            "INSERT INTO effects (event_id, stream_id, n) VALUES ($1, $2, $3)", event.id, event.stream_id,
            event.data["n"],
        )


@contextlib.asynccontextmanager
async def raw_producer(bootstrap: str):
    """A plain aiokafka producer, for records the runtime would never publish."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


def unique(prefix: str) -> str:
    return f"{prefix}.{uuid.uuid4().hex[:10]}"


def event(stream: str, n: int, **data) -> Envelope:
    return Envelope(type="kim.test.Counted", source="/kim/test", stream_id=stream, data={"n": n, **data})


class Harness:
    def __init__(self, dsn: str, bootstrap: str, topic: str, dlq: str, service: str = "test"):
        self.dsn, self.topic, self.dlq = dsn, topic, dlq
        self.settings = RuntimeSettings(service=service, database_url=dsn, kafka_bootstrap=bootstrap)
        self.broker = make_broker(self.settings)
        self.tasks: list[asyncio.Task] = []

    async def __aenter__(self) -> Harness:
        # brokers never auto-create topics: a test makes its own, like `kim stack up` makes the planned ones
        await ensure_topics(self.settings.kafka_bootstrap, {self.topic: TEST_PARTITIONS, self.dlq: 1})
        self.pool = await db.create_pool(self.dsn, max_size=8)
        async with self.pool.acquire() as conn:
            await db.migrate(conn, [])
            await conn.execute(EFFECTS_DDL)
        self.store = EventStore(self.pool, self.topic)
        self.consumers = ConsumerRunner(self.settings.service, self.pool, self.broker, self.dlq,
                                        retry_base_delay=0.01, contract=TEST_CONTRACT)
        self.relay = OutboxRelay(self.pool, self.broker, dsn=self.dsn, poll_interval=0.2)
        return self

    async def start(self, *, relay: bool = True) -> None:
        await self.broker.start()
        if relay:
            self.tasks.append(asyncio.create_task(self.relay.run()))

    async def __aexit__(self, *exc) -> None:
        for t in self.tasks:
            t.cancel()
            with contextlib.suppress(BaseException):
                await t
        with contextlib.suppress(Exception):
            await self.broker.stop()
        await self.pool.close()

    async def effects(self) -> list[asyncpg.Record]:
        async with self.pool.acquire() as conn:
            return await conn.fetch("SELECT event_id, stream_id, n FROM effects ORDER BY handled_at")


eventually = partial(_eventually, timeout=60.0, every=0.1)
