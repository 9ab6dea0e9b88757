"""Rebuild a projection from Kafka into fresh tables while the live ones keep serving, then swap.

Resumable: the rebuild keeps its own inbox claims and checkpoints (consumer `<name>__rebuild`); run it again after
an interruption and it goes on from where it stopped. `progress(done, total)` is called after every batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import time
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from .consumer import RecordRef, decode
from .envelope import Envelope, EnvelopeError
from .projection import REBUILD_SUFFIX, Projection, lock_key, prepare_rebuild, swap_in_rebuild

Progress = Callable[[int, int], None]


@dataclass
class RebuildResult:
    projection: str
    events_applied: int
    duplicates: int
    undecodable: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.events_applied / self.seconds if self.seconds else 0.0


class _Batcher:
    def __init__(self, projection: Projection, consumer_name: str):
        self.projection = projection
        self.consumer_name = consumer_name
        self.schema = f'"{projection.name}{REBUILD_SUFFIX}"'
        self.applied = self.duplicates = self.undecodable = 0

    def decode(self, records: list) -> tuple[list[Envelope], dict]:
        """Envelopes of the records (the undecodable ones counted and skipped) and each partition's last offset."""
        events, last = [], {}
        for r in records:
            last[(r.topic, r.partition)] = (r.offset, r.timestamp)
            try:  # every valid event is passed on (and counted as applied); apply_batch passes over other types
                events.append(decode(RecordRef(r.topic, r.partition, r.offset, r.key, r.value, r.headers or ()),
                                     self.projection.contract))
            except EnvelopeError:
                self.undecodable += 1  # the live consumer parked it in the dead-letter topic already
        return events, last

    async def apply(self, conn: asyncpg.Connection, records: list) -> None:
        await self.apply_events(conn, *self.decode(records))

    async def apply_events(self, conn: asyncpg.Connection, events: list[Envelope], last: dict) -> None:
        """One transaction's work: inbox claims (duplicates skipped), apply_batch, checkpoints."""
        claimed = {
            row[0]
            for row in await conn.fetch(
                "INSERT INTO inbox (consumer, event_id) SELECT $1, unnest($2::uuid[]) "
                "ON CONFLICT DO NOTHING RETURNING event_id::text",
                self.consumer_name,
                [e.id for e in events],
            )
        }
        fresh = [e for e in events if e.id in claimed]
        self.duplicates += len(events) - len(fresh)
        if fresh:
            await self.projection.apply_batch(conn, self.schema, fresh)
        self.applied += len(fresh)
        await self.save_progress(conn, last)

    async def save_progress(self, conn: asyncpg.Connection, last: dict) -> None:
        """Each topic-partition's last Kafka offset, as a checkpoint of the rebuild's consumer."""
        await conn.executemany(
            'INSERT INTO checkpoints (consumer, topic, partition, "offset", event_time) '
            "VALUES ($1, $2, $3, $4, to_timestamp($5 / 1000.0)) ON CONFLICT (consumer, topic, partition) "
            'DO UPDATE SET "offset" = greatest(checkpoints."offset", excluded."offset"), '
            "event_time = excluded.event_time, updated_at = now()",
            [(self.consumer_name, t, p, o, ts) for (t, p), (o, ts) in last.items()],
        )


class _Pull:
    """Reads the assigned topic-partitions up to a goal (an offset per partition) and writes what it reads in
    batches: pipelined, the next batch is fetched and decoded while the previous one's transaction runs; batches
    are still written one after the other, in order. `progress(done, total)` after every batch."""

    def __init__(self, consumer: AIOKafkaConsumer, batcher: _Batcher, pool: asyncpg.Pool, *, batch_size: int,
                 total: int, progress: Progress | None):
        self.consumer, self.batcher, self.pool, self.batch_size = consumer, batcher, pool, batch_size
        self.total, self.progress, self.consumed = total, progress, 0

    async def behind(self, goal: dict) -> bool:
        return any([await self.consumer.position(tp) < offset for tp, offset in goal.items()])

    async def write(self, events: list, last: dict, n: int, conn: asyncpg.Connection | None) -> None:
        if conn is None:
            async with self.pool.acquire() as c, c.transaction():
                await self.batcher.apply_events(c, events, last)
        else:
            await self.batcher.apply_events(conn, events, last)
        self.consumed += n
        if self.progress:
            self.progress(self.consumed, max(self.total, self.consumed))

    async def decoded(self, records: list) -> tuple[list, dict]:
        events, last = [], {}
        for i in range(0, len(records), 250):  # yield often, so the write moves on meanwhile
            more, ends = self.batcher.decode(records[i:i + 250])
            events += more
            last |= ends
            await asyncio.sleep(0)
        return events, last

    async def until(self, goal: dict, conn: asyncpg.Connection | None) -> None:
        """Up to `goal`, each batch in its own transaction (conn None) or all in the caller's (`conn`)."""
        writing: asyncio.Task | None = None
        try:
            while await self.behind(goal):
                got = await self.consumer.getmany(timeout_ms=200, max_records=self.batch_size)
                records = [r for rs in got.values() for r in rs]
                if not records:
                    continue
                events, last = await self.decoded(records)
                if writing is not None:
                    await writing
                writing = asyncio.create_task(self.write(events, last, len(records), conn))
            if writing is not None:
                await writing
        finally:
            if writing is not None and not writing.done():
                writing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await writing


async def _assign(consumer: AIOKafkaConsumer, projection: Projection, done: dict) -> list[TopicPartition]:
    """Assign every partition of the projection's topics, each at the offset after its checkpoint (the beginning
    without one); a topic not created yet has none."""
    # consumer.topics() does not keep what it fetched (partitions_for_topic stays None for unassigned topics
    # in aiokafka 0.14), so read the partitions from a full metadata fetch
    cluster = await consumer._client.fetch_all_metadata()
    tps = [TopicPartition(t, p) for t in projection.topics for p in sorted(cluster.partitions_for_topic(t) or ())]
    if tps:
        consumer.assign(tps)
        for tp in tps:
            if (tp.topic, tp.partition) in done:
                consumer.seek(tp, done[(tp.topic, tp.partition)] + 1)
            else:
                await consumer.seek_to_beginning(tp)
    return tps


async def _checkpoints(conn: asyncpg.Connection, consumer_name: str) -> dict:
    rows = await conn.fetch('SELECT topic, partition, "offset" FROM checkpoints WHERE consumer = $1', consumer_name)
    return {(r["topic"], r["partition"]): r["offset"] for r in rows}


# A rebuild makes and drops a few containers per event (JSON, envelope, the contract's model): with the default
# threshold (700) the collector ran so often that it took about half of `kim bench replay`'s time (issue 18: 9,566 and
# 10,057 events/s with it, 16,419 and 20,318 with these thresholds, side by side). What a rebuild drops is freed by
# reference counting; cycles wait a little longer.
REBUILD_GC_THRESHOLDS = (100_000, 50, 1000)


@contextlib.contextmanager
def fewer_collections(thresholds: tuple[int, int, int] = REBUILD_GC_THRESHOLDS):
    """Collect garbage less often for the duration (a rebuild), then as before."""
    before = gc.get_threshold()
    gc.set_threshold(*thresholds)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def collecting_less(rebuild):
    """A rebuild function run under `fewer_collections`."""

    @functools.wraps(rebuild)
    async def run(*args, **kwargs):
        with fewer_collections():
            return await rebuild(*args, **kwargs)

    return run


@collecting_less
async def rebuild_from_kafka(
    projection: Projection,
    pool: asyncpg.Pool,
    bootstrap: str,
    *,
    kafka_options: dict | None = None,
    batch_size: int = 5000,
    resume: bool = True,
    progress: Progress | None = None,
) -> RebuildResult:
    started = time.perf_counter()
    async with pool.acquire() as conn:
        fresh_name = await prepare_rebuild(conn, projection, resume=resume)
        done = await _checkpoints(conn, fresh_name)

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        group_id=None,
        fetch_max_wait_ms=50,
        max_partition_fetch_bytes=8 * 1024 * 1024,
        **(kafka_options or {}),
    )
    await consumer.start()
    batcher = _Batcher(projection, fresh_name)
    try:
        tps = await _assign(consumer, projection, done)
        if tps:
            targets = await consumer.end_offsets(tps)
            starts = {tp: await consumer.position(tp) for tp in tps}
            pull = _Pull(consumer, batcher, pool, batch_size=batch_size, progress=progress,
                         total=sum(max(0, targets[tp] - starts[tp]) for tp in tps))
            await pull.until(targets, None)
        # Catch up with the live projection under its exclusive lock, then swap in one transaction.
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", lock_key(projection.name))
            if tps:
                live = {TopicPartition(t, p): offset + 1
                        for (t, p), offset in (await _checkpoints(conn, projection.name)).items()}
                await pull.until({tp: off for tp, off in live.items() if tp in starts}, conn)
            await swap_in_rebuild(conn, projection)
    finally:
        await consumer.stop()
    return RebuildResult(
        projection.name,
        batcher.applied,
        batcher.duplicates,
        batcher.undecodable,
        time.perf_counter() - started,
    )
