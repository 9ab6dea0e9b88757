"""Idempotent consumers: decode, claim in the inbox, apply the effect, all in one transaction; park poison.

For each handled record, in one PostgreSQL transaction: the event id is claimed in the inbox (a redelivered event
finds its claim and has no second effect), the consumer's checkpoint for the topic-partition moves forward, and the
handler's effect is written. The Kafka offset is committed after that transaction (in batches: OffsetCommitter). A record that cannot be decoded,
or whose handling still fails after bounded attempts, goes to the service's dead-letter topic with the error in its
headers, and the partition moves on. Infrastructure failures (PostgreSQL unreachable) are retried without limit:
they say nothing about the event.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import asyncpg
import pydantic
from faststream import AckPolicy
from aiokafka import TopicPartition
from faststream.kafka import KafkaBroker, KafkaMessage

from . import upcasting
from .envelope import Envelope, EnvelopeError

log = logging.getLogger(__name__)

CLAIM = """
WITH claim AS (
    INSERT INTO inbox (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1
), progress AS (
    INSERT INTO checkpoints (consumer, topic, partition, "offset", event_time, updated_at)
    VALUES ($1, $3, $4, $5, $6, now())
    ON CONFLICT (consumer, topic, partition) DO UPDATE
        SET "offset" = greatest(checkpoints."offset", excluded."offset"), event_time = excluded.event_time,
            updated_at = now()
)
SELECT count(*) FROM claim
"""

# A parked record still counts as passed: the checkpoint moves so lag and rebuilds do not wait for it.
ADVANCE = """
INSERT INTO checkpoints (consumer, topic, partition, "offset", updated_at) VALUES ($1, $2, $3, $4, now())
ON CONFLICT (consumer, topic, partition) DO UPDATE
    SET "offset" = greatest(checkpoints."offset", excluded."offset"), updated_at = now()
"""

INFRASTRUCTURE_ERRORS = (
    OSError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
)


class PoisonEvent(Exception):
    """Raised by a handler for an event that can never be handled: no retries, straight to the dead-letter topic."""


class Handler(Protocol):
    """What a service registers: a name (its inbox and checkpoint key), the topics it reads, and the effect."""

    name: str
    topics: Sequence[str]
    # Optional: an advisory lock key taken (shared) before the claim, so a projection's swap can exclude live work.

    async def handle(self, conn: asyncpg.Connection, event: Envelope) -> None: ...


@dataclass(frozen=True)
class RecordRef:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]


def decode(record: RecordRef) -> Envelope:
    """Envelope from a record, upcast to the newest version of its type. Raises EnvelopeError."""
    env = Envelope.from_kafka(record.key, record.value, list(record.headers))
    try:
        version, data = upcasting.upcast(env.type, env.schema_version, env.data)
    except Exception as exc:
        raise EnvelopeError(f"cannot upcast {env.type} v{env.schema_version}: {exc}") from exc
    if version != env.schema_version:
        env = env.model_copy(update={"schema_version": version, "data": data})
    return env


class OffsetCommitter:
    """Commits Kafka offsets of records already handled, in batches, instead of one round trip per record.

    Offsets are explicit (the handled record's offset + 1), so a record still being handled is never committed.
    Committing late only means redelivery after a crash, which the inbox absorbs.
    """

    def __init__(self, every: int = 100, interval: float = 0.2):
        self.every, self.interval = every, interval
        self.pending: dict[TopicPartition, int] = {}
        self.count = 0
        self.last = time.monotonic()
        self.consumer = None
        self._timer: asyncio.Task | None = None

    async def handled(self, consumer, topic: str, partition: int, offset: int) -> None:
        self.consumer = consumer
        self.pending[TopicPartition(topic, partition)] = offset + 1
        self.count += 1
        if self.count >= self.every or time.monotonic() - self.last >= self.interval:
            await self.flush()
        elif self._timer is None or self._timer.done():
            self._timer = asyncio.create_task(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(self.interval)
        await self.flush()

    async def flush(self) -> None:
        if not self.pending or self.consumer is None:
            return
        offsets, self.pending, self.count, self.last = self.pending, {}, 0, time.monotonic()
        try:
            await self.consumer.commit(offsets)
        except Exception as exc:  # partitions moved to another member: it re-reads them, the inbox dedups
            log.info("offset commit skipped (%s): %s", type(exc).__name__, exc)


async def _raw_decoder(msg) -> bytes:  # hand the handler the bytes; our codec decides what is poison
    return msg.body


class ConsumerRunner:
    """Runs handlers for one service: one consumer group per handler, sharing the service's pool and broker."""

    def __init__(
        self,
        service: str,
        pool: asyncpg.Pool,
        broker: KafkaBroker,
        dead_letter_topic: str,
        *,
        max_attempts: int = 3,
        fetch_max_wait_ms: int = 500,
        retry_base_delay: float = 0.05,
        group_prefix: str = "kim",
    ):
        self.service = service
        self.pool = pool
        self.broker = broker
        self.dead_letter_topic = dead_letter_topic
        self.max_attempts = max_attempts
        self.fetch_max_wait_ms = fetch_max_wait_ms
        self.retry_base_delay = retry_base_delay
        self.group_prefix = group_prefix
        self.handled = 0
        self.dead_lettered = 0
        self.committers: list[OffsetCommitter] = []

    def group_id(self, handler: Handler) -> str:
        return f"{self.group_prefix}-{self.service}-{handler.name}"

    def add(self, handler: Handler) -> None:
        subscriber = self.broker.subscriber(
            *handler.topics,
            group_id=self.group_id(handler),
            auto_offset_reset="earliest",
            fetch_max_wait_ms=self.fetch_max_wait_ms,
            ack_policy=AckPolicy.MANUAL,  # OffsetCommitter commits handled offsets in batches
            decoder=_raw_decoder,
            title=f"{self.service}:{handler.name}",
        )

        committer = OffsetCommitter()
        self.committers.append(committer)

        @subscriber
        async def on_record(body: bytes, msg: KafkaMessage) -> None:
            raw = msg.raw_message
            ref = RecordRef(raw.topic, raw.partition, raw.offset, raw.key, raw.value, tuple(raw.headers or ()))
            await self.process(handler, ref)
            await committer.handled(msg.consumer, raw.topic, raw.partition, raw.offset)

    async def process(self, handler: Handler, record: RecordRef) -> bool:
        """Handle one record; returns True when it had an effect, False when it was a duplicate or parked."""
        try:
            event = decode(record)
        except EnvelopeError as exc:
            await self.dead_letter(handler, record, exc, attempts=0)
            return False
        attempt = 0
        while True:
            attempt += 1
            try:
                async with self.pool.acquire() as conn, conn.transaction():
                    if (lock := getattr(handler, "advisory_lock", None)) is not None:
                        await conn.execute("SELECT pg_advisory_xact_lock_shared($1)", lock)
                    claimed = await conn.fetchval(
                        CLAIM, handler.name, event.id, record.topic, record.partition, record.offset, event.time
                    )
                    if claimed:
                        await handler.handle(conn, event)
                self.handled += bool(claimed)
                return bool(claimed)
            except asyncio.CancelledError:
                raise
            except INFRASTRUCTURE_ERRORS as exc:
                log.warning("%s: database unavailable (%s); retrying %s", handler.name, exc, event.id)
                await asyncio.sleep(min(5.0, self.retry_base_delay * 2**min(attempt, 8)))
                attempt = 0
            except (PoisonEvent, pydantic.ValidationError) as exc:
                await self.dead_letter(handler, record, exc, attempts=attempt)
                return False
            except Exception as exc:
                if attempt >= self.max_attempts:
                    log.exception("%s: giving up on %s after %d attempts", handler.name, event.id, attempt)
                    await self.dead_letter(handler, record, exc, attempts=attempt)
                    return False
                await asyncio.sleep(self.retry_base_delay * 2 ** (attempt - 1))

    async def dead_letter(self, handler: Handler, record: RecordRef, error: Exception, *, attempts: int) -> None:
        headers = {k: v.decode(errors="replace") for k, v in record.headers}
        headers |= {
            "dlq_error": f"{type(error).__name__}: {error}"[:2000],
            "dlq_topic": record.topic,
            "dlq_partition": str(record.partition),
            "dlq_offset": str(record.offset),
            "dlq_consumer": handler.name,
            "dlq_attempts": str(attempts),
        }
        log.error("%s: %s[%d]@%d -> %s: %s", handler.name, record.topic, record.partition, record.offset,
                  self.dead_letter_topic, headers["dlq_error"])
        await self.broker.publish(record.value or b"", self.dead_letter_topic, key=record.key, headers=headers)
        self.dead_lettered += 1
        async with self.pool.acquire() as conn:
            await conn.execute(ADVANCE, handler.name, record.topic, record.partition, record.offset)
