"""Idempotent consumers: decode, claim in the inbox, apply the effect, all in one transaction; park poison.

Records come in fetched batches (up to `max_batch`). For a batch, in one PostgreSQL transaction: the event ids are
claimed in the inbox in one statement (a redelivered event finds its claim and has no second effect), the consumer's
checkpoint of each topic-partition moves forward in the same statement, and the handler's effects are written, record
after record in the order fetched (so per-key order holds: one key, one partition). If any record of the batch fails
(a poison event, a handler error, the database), the whole batch transaction rolls back and its records are handled
again one by one, each in its own transaction as before: a poison record goes to the dead-letter topic alone and its
neighbours are applied exactly once. The Kafka offsets are committed after the transaction (OffsetCommitter).

Decoding is strict and happens here, not in FastStream (its parser would raise on a header that is not UTF-8, before
any of our code, and the record would be skipped for good). Every record is read through the event contract
(contract.py): a record without headers or key, a value that is not JSON, a header that is not UTF-8, a type or
version the contract does not know, or data its model refuses goes to the service's dead-letter topic with the
reason (`dlq_reason`) and the error, and the partition moves on; so does a record whose handling still fails after
bounded attempts. A valid event of a type the handler does not take (`Handler.event_types`) is passed over and
counted (kim_consumer_events_ignored_total). Infrastructure failures (PostgreSQL unreachable) are retried without
limit: they say nothing about the event.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import itertools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import asyncpg
import pydantic
from aiokafka import ConsumerRecord, TopicPartition
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from opentelemetry.trace import SpanKind
from prometheus_client import Counter, Gauge

from . import logs, telemetry
from .contract import Contract, default_contract, validate
from .dispatch import accepted
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

# A batch's claims and progress in one statement: the ids it could claim come back (a redelivered one does not);
# each topic-partition's checkpoint moves to the batch's last offset (and its last handled event's time)
CLAIM_BATCH = """
WITH claim AS (
    INSERT INTO inbox (consumer, event_id) SELECT $1, unnest($2::uuid[]) ON CONFLICT DO NOTHING RETURNING event_id
), progress AS (
    INSERT INTO checkpoints (consumer, topic, partition, "offset", event_time, updated_at)
    SELECT $1, t, p, o, e, now() FROM unnest($3::text[], $4::integer[], $5::bigint[], $6::timestamptz[]) AS u(t, p, o, e)
    ON CONFLICT (consumer, topic, partition) DO UPDATE
        SET "offset" = greatest(checkpoints."offset", excluded."offset"),
            event_time = coalesce(excluded.event_time, checkpoints.event_time), updated_at = now()
)
SELECT event_id FROM claim
"""

# A parked or ignored record still counts as passed: the checkpoint moves so lag and rebuilds do not wait for it.
ADVANCE = """
INSERT INTO checkpoints (consumer, topic, partition, "offset", updated_at) VALUES ($1, $2, $3, $4, now())
ON CONFLICT (consumer, topic, partition) DO UPDATE
    SET "offset" = greatest(checkpoints."offset", excluded."offset"), updated_at = now()
"""

IDLE_WAIT_MS = 1000  # how long a batch subscriber waits in one getmany when nothing comes (not a delay: see _fetcher)

IGNORED = Counter("kim_consumer_events_ignored_total", "Valid events of a type the consumer does not take",
                  ["service", "consumer", "type"])
DEAD_LETTERED = Counter("kim_consumer_dead_lettered_total", "Records a consumer parked in its dead-letter topic",
                        ["service", "consumer", "reason"])
HANDLED = Counter("kim_consumer_events_handled_total", "Events a consumer handled (claimed and applied; a "
                  "redelivered duplicate is not counted)", ["service", "consumer"])
LAG = Gauge("kim_consumer_lag", "Records on the partition after the one the consumer last took (the broker's high "
            "watermark as of the last fetch)", ["service", "consumer", "topic", "partition"])

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
    # Optional: `event_types`, the event classes it takes; other valid events are passed over and counted (None:
    # all); the runner derives their type names (dispatch.accepted).
    # Optional: `contract`, the event contract its events are read through (None: the runner's, else kim_schemas).

    async def handle(self, conn: asyncpg.Connection, envelope: Envelope) -> None: ...


@dataclass(frozen=True)
class RecordRef:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]


# The record being handled (for a handler that wants its partition or offset, and for logs)
RECORD: contextvars.ContextVar[RecordRef | None] = contextvars.ContextVar("kim_consumer_record", default=None)


def decode(record: RecordRef, contract: Contract | None = None) -> Envelope:
    """Envelope from a record, read through the contract's newest model of its type. Raises EnvelopeError."""
    env = Envelope.from_kafka(record.key, record.value, list(record.headers))
    return validate(env, contract or default_contract())


async def lenient_parser(record: ConsumerRecord, original: Callable[[ConsumerRecord], Awaitable[KafkaMessage]]):
    """FastStream's parser, made unable to fail: it decodes every header as UTF-8 and would raise before our code.

    FastStream gets a copy whose headers are decoded leniently; the message keeps the raw record, whose bytes
    `decode` judges (and dead-letters).
    """
    try:
        return await original(record)
    except UnicodeDecodeError:
        if isinstance(record, tuple):  # a fetched batch
            msg = await original(tuple(_lenient(r) for r in record))
        else:
            msg = await original(_lenient(record))
        msg.raw_message = record
        return msg


def _lenient(record: ConsumerRecord) -> ConsumerRecord:
    safe = dataclasses.replace(
        record, headers=[(k, v.decode(errors="replace").encode()) for k, v in record.headers or ()]
    )
    if hasattr(record, "consumer"):
        safe.consumer = record.consumer
    return safe


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


def _traceparent(record: RecordRef) -> str | None:
    """The trace context the record was published with (ce_traceparent), None when absent or not readable."""
    for name, value in record.headers:
        if name == "ce_traceparent":
            return value.decode("ascii", errors="replace")[:128]
    return None


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
        fetch_max_wait_ms: int = 5000,
        max_batch: int = 100,
        retry_base_delay: float = 0.05,
        group_prefix: str = "kim",
        contract: Contract | None = None,
    ):
        self.service = service
        self.contract = contract  # None: kim_schemas, loaded when the first record is read
        self.pool = pool
        self.broker = broker
        self.dead_letter_topic = dead_letter_topic
        self.max_attempts = max_attempts
        self.fetch_max_wait_ms = fetch_max_wait_ms
        self.max_batch = max_batch
        self.retry_base_delay = retry_base_delay
        self.group_prefix = group_prefix
        self.committers: list[OffsetCommitter] = []

    @staticmethod
    def wanted_by(handler: Handler) -> frozenset[str] | None:
        """The type names the handler takes (None: all), from its event classes."""
        return accepted(getattr(handler, "event_types", None))

    def group_id(self, handler: Handler) -> str:
        return f"{self.group_prefix}-{self.service}-{handler.name}"

    def add(self, handler: Handler) -> None:
        subscriber = self.broker.subscriber(
            *handler.topics,
            group_id=self.group_id(handler),
            auto_offset_reset="earliest",
            fetch_max_wait_ms=self.fetch_max_wait_ms,
            ack_policy=AckPolicy.MANUAL,  # OffsetCommitter commits handled offsets in batches
            batch=True,  # what one fetch brought (up to max_batch records), handled in one transaction
            max_records=self.max_batch,
            parser=lenient_parser,
            decoder=_raw_decoder,
            title=f"{self.service}:{handler.name}",
        )

        subscriber.get_msg = self._fetcher(subscriber)  # see _fetcher

        committer = OffsetCommitter()
        self.committers.append(committer)

        @subscriber
        async def on_batch(body: list[bytes], msg: KafkaMessage) -> None:
            raws = msg.raw_message
            refs = [RecordRef(r.topic, r.partition, r.offset, r.key, r.value, tuple(r.headers or ())) for r in raws]
            if refs:
                await self.process_batch(handler, refs)
            for raw in raws:
                await committer.handled(msg.consumer, raw.topic, raw.partition, raw.offset)
            if raws:
                self._lag(handler, msg.consumer, raws[-1])

    def _fetcher(self, subscriber):
        """What the batch subscriber's loop awaits for its next batch: whatever the consumer has fetched, as soon as
        it has any (aiokafka's getmany). FastStream's own (0.7) sleeps `batch_timeout_ms` more after every empty
        wait, and a record arriving meanwhile waited for the sleep; this waits only in getmany, which returns on
        the first record, and gives FastStream's loop an empty batch every IDLE_WAIT_MS to see a stop."""
        max_records = self.max_batch

        async def get_msg(consumer) -> tuple:
            batches = await consumer.getmany(timeout_ms=IDLE_WAIT_MS, max_records=max_records)
            return tuple(itertools.chain.from_iterable(batches.values()))

        return get_msg

    def _span_attributes(self, handler: Handler, record: RecordRef) -> dict:
        return {"messaging.system": "kafka", "messaging.operation.type": "process",
                "messaging.destination.name": record.topic, "messaging.consumer.group.name": self.group_id(handler),
                "messaging.destination.partition.id": str(record.partition),
                "messaging.kafka.offset": record.offset}

    def _lag(self, handler: Handler, consumer, raw: ConsumerRecord) -> None:
        with contextlib.suppress(Exception):  # a consumer that lost the partition meanwhile knows no watermark
            highwater = consumer.highwater(TopicPartition(raw.topic, raw.partition))
            if highwater is not None:
                LAG.labels(self.service, handler.name, raw.topic, str(raw.partition)).set(
                    max(highwater - raw.offset - 1, 0))

    async def process_batch(self, handler: Handler, records: Sequence[RecordRef]) -> list[bool]:
        """Handle a fetched batch; for each record, whether it had an effect (False: a duplicate, ignored or parked).

        Undecodable records are parked first (they have no effect, so nothing waits for them); the others are
        claimed and applied in one transaction. When that fails, it is rolled back whole and each record is handled
        on its own (`process`), which parks a poison record alone and retries what the database refused."""
        if len(records) == 1:
            return [await self.process(handler, records[0])]
        results = [False] * len(records)
        decoded: list[tuple[int, RecordRef, Envelope]] = []
        contract = getattr(handler, "contract", None) or self.contract
        for i, record in enumerate(records):
            try:
                decoded.append((i, record, decode(record, contract)))
            except EnvelopeError as exc:
                await self.dead_letter(handler, record, exc, attempts=0)
        if not decoded:
            return results
        try:
            applied = await self._apply_batch(handler, decoded)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - rolled back whole: one by one, as a batch of one is handled
            log.info("%s: a batch of %d failed (%s: %s); handling its records one by one", handler.name,
                     len(decoded), type(exc).__name__, exc)
            for i, record, _ in decoded:
                results[i] = await self.process(handler, record)
            return results
        for i in applied:
            results[i] = True
        return results

    async def _apply_batch(self, handler: Handler, decoded: list[tuple[int, RecordRef, Envelope]]) -> list[int]:
        """One transaction: claims and checkpoints in one statement, then each claimed event's effect in order.
        Returns the indexes of the records applied."""
        wanted = self.wanted_by(handler)
        take = [(i, r, e) for i, r, e in decoded if wanted is None or e.type in wanted]
        last: dict[tuple[str, int], tuple[int, object]] = {}
        for _, r, e in decoded:  # ignored events move the checkpoint too, without an event time
            handled = wanted is None or e.type in wanted
            previous = last.get((r.topic, r.partition), (None, None))[1]
            last[(r.topic, r.partition)] = (r.offset, e.time if handled else previous)
        applied: list[int] = []
        async with self.pool.acquire() as conn, conn.transaction():
            if (lock := getattr(handler, "advisory_lock", None)) is not None:
                await conn.execute("SELECT pg_advisory_xact_lock_shared($1)", lock)
            parts = list(last.items())
            claimed = {row[0] for row in await conn.fetch(
                CLAIM_BATCH, handler.name, [uuid.UUID(e.id) for _, _, e in take], [t for (t, _), _ in parts],
                [p for (_, p), _ in parts], [o for _, (o, _) in parts], [t for _, (_, t) in parts])}
            for i, record, envelope in take:
                if (event_id := uuid.UUID(envelope.id)) not in claimed:
                    continue  # handled before (redelivered), or twice in this batch: its first copy counts
                claimed.discard(event_id)
                with self._record_context(handler, record, envelope):
                    await handler.handle(conn, envelope)
                applied.append(i)
        for _, _, e in decoded:
            if wanted is not None and e.type not in wanted:
                IGNORED.labels(self.service, handler.name, e.type).inc()
        if applied:
            HANDLED.labels(self.service, handler.name).inc(len(applied))
        return applied

    @contextlib.contextmanager
    def _record_context(self, handler: Handler, record: RecordRef, envelope: Envelope):
        """Span, log ids and RECORD around one record's handling."""
        tokens = (logs.EVENT_ID.set(envelope.id), logs.CORRELATION_ID.set(envelope.correlation_id),
                  RECORD.set(record))
        try:
            with telemetry.span(f"{record.topic} process", kind=SpanKind.CONSUMER, parent=_traceparent(record),
                                attributes=self._span_attributes(handler, record)):
                yield
        finally:
            logs.EVENT_ID.reset(tokens[0])
            logs.CORRELATION_ID.reset(tokens[1])
            RECORD.reset(tokens[2])

    async def process(self, handler: Handler, record: RecordRef) -> bool:
        """Handle one record; returns True when it had an effect, False when it was a duplicate or parked."""
        try:
            event = decode(record, getattr(handler, "contract", None) or self.contract)
        except EnvelopeError as exc:
            await self.dead_letter(handler, record, exc, attempts=0)
            return False
        with self._record_context(handler, record, event):
            return await self._handle(handler, record, event)

    async def _handle(self, handler: Handler, record: RecordRef, envelope: Envelope) -> bool:
        if (wanted := self.wanted_by(handler)) is not None and envelope.type not in wanted:
            IGNORED.labels(self.service, handler.name, envelope.type).inc()
            await self._advance(handler, record)
            return False
        attempt = 0
        while True:
            attempt += 1
            try:
                async with self.pool.acquire() as conn, conn.transaction():
                    if (lock := getattr(handler, "advisory_lock", None)) is not None:
                        await conn.execute("SELECT pg_advisory_xact_lock_shared($1)", lock)
                    claimed = await conn.fetchval(
                        CLAIM, handler.name, envelope.id, record.topic, record.partition, record.offset, envelope.time
                    )
                    if claimed:
                        await handler.handle(conn, envelope)
                if claimed:
                    HANDLED.labels(self.service, handler.name).inc()
                return bool(claimed)
            except asyncio.CancelledError:
                raise
            except INFRASTRUCTURE_ERRORS as exc:
                log.warning("%s: database unavailable (%s); retrying %s", handler.name, exc, envelope.id)
                await asyncio.sleep(min(5.0, self.retry_base_delay * 2**min(attempt, 8)))
                attempt = 0
            except (PoisonEvent, pydantic.ValidationError) as exc:
                await self.dead_letter(handler, record, exc, attempts=attempt)
                return False
            except Exception as exc:
                if attempt >= self.max_attempts:
                    log.exception("%s: giving up on %s after %d attempts", handler.name, envelope.id, attempt)
                    await self.dead_letter(handler, record, exc, attempts=attempt)
                    return False
                await asyncio.sleep(self.retry_base_delay * 2 ** (attempt - 1))

    async def dead_letter(self, handler: Handler, record: RecordRef, error: Exception, *, attempts: int) -> None:
        headers = {k: v.decode(errors="replace") for k, v in record.headers}
        reason = getattr(error, "reason", None) or (
            "poison" if isinstance(error, (PoisonEvent, pydantic.ValidationError)) else "handler-failed")
        headers |= {
            "dlq_reason": reason,
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
        DEAD_LETTERED.labels(self.service, handler.name, reason).inc()
        await self._advance(handler, record)

    async def _advance(self, handler: Handler, record: RecordRef) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute(ADVANCE, handler.name, record.topic, record.partition, record.offset)
