"""Rebuild a projection from the event stores instead of Kafka: same fresh schema, resume and swap as rebuild.py.

Each topic a projection reads is published by one service's store (its outbox rows name the topic). The rebuild
reads those stores in position order, merged across stores by occurred-at, and hands the events to the same
batcher a Kafka rebuild uses (same contract and upcasting, inbox claims, apply_batch). Its progress per topic is the
last store position applied, in `store_checkpoints` (positions; `checkpoints` holds Kafka offsets only), so a second
run resumes.

Before the swap, under the projection's exclusive lock, it reads every store to its head and then applies any event
the live consumer has handled that the rebuild has not (a transaction that committed late with a lower position),
so the swapped-in tables hold everything the live ones held. The live consumer's Kafka checkpoints carry over.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from .contract import default_contract, validate
from .envelope import Envelope, EnvelopeError
from .projection import REBUILD_SUFFIX, Projection, lock_key, prepare_rebuild, swap_in_rebuild
from .rebuild import Progress, RebuildResult, _Batcher, collecting_less
from .store import row_to_envelope

log = logging.getLogger(__name__)

_SAVE_POSITION = (
    "INSERT INTO store_checkpoints (consumer, topic, position, event_time) VALUES ($1, $2, $3, $4) "
    "ON CONFLICT (consumer, topic) DO UPDATE SET position = greatest(store_checkpoints.position, excluded.position), "
    "event_time = excluded.event_time, updated_at = now()"
)
_COLUMNS = "e.position, e.event_id, e.stream_id, e.version, e.type, e.schema_version, e.occurred_at, e.metadata, e.data"
_PAGE = (f"SELECT {_COLUMNS} FROM events e JOIN outbox o USING (position) "
         "WHERE o.topic = $1 AND e.position > $2 AND e.position <= $3 ORDER BY e.position LIMIT $4")
_BY_ID = f"SELECT {_COLUMNS} FROM events e JOIN outbox o USING (position) WHERE o.topic = $1 AND e.event_id = ANY($2)"
_HEAD = "SELECT coalesce(max(position), 0) FROM outbox WHERE topic = $1"
_COUNT = "SELECT count(*) FROM outbox WHERE topic = $1 AND position > $2 AND position <= $3"


@dataclass(frozen=True)
class _Stored:
    """An event read from a store: the topic its store publishes it to, its store position, the envelope as stored
    (not upcast: the contract upcasts it, as it does a Kafka record's)."""

    topic: str
    position: int
    time: datetime
    envelope: Envelope


def _as_stored(topic: str, row: asyncpg.Record) -> _Stored:
    return _Stored(topic, row["position"], row["occurred_at"], row_to_envelope(row, upcast=False))


class _StoreBatcher(_Batcher):
    """The Kafka rebuild's batcher, taking stored events; its progress is store positions, not Kafka offsets."""

    def decode(self, records: list[_Stored]) -> tuple[list[Envelope], dict]:
        events, last = [], {}
        for r in records:
            last[r.topic] = (r.position, r.time)
            try:
                events.append(validate(r.envelope, self.projection.contract or default_contract()))
            except EnvelopeError:
                self.undecodable += 1
        return events, last

    async def save_progress(self, conn: asyncpg.Connection, last: dict) -> None:
        await conn.executemany(_SAVE_POSITION, [(self.consumer_name, topic, position, time)
                                                for topic, (position, time) in last.items()])


class _Source:
    """One topic's events in one store, read page by page up to a goal position."""

    def __init__(self, topic: str, pool: asyncpg.Pool, position: int, page: int):
        self.topic, self.pool, self.position, self.page = topic, pool, position, page
        self.buffer: deque = deque()

    async def head(self) -> int:
        async with self.pool.acquire() as c:
            return await c.fetchval(_HEAD, self.topic)

    async def has_next(self, goal: int) -> bool:
        if not self.buffer and self.position < goal:
            async with self.pool.acquire() as c:
                rows = await c.fetch(_PAGE, self.topic, self.position, goal, self.page)
            self.buffer.extend(rows)
            self.position = rows[-1]["position"] if len(rows) == self.page else goal
        return bool(self.buffer)


async def _prepare(pool: asyncpg.Pool, projection: Projection, resume: bool) -> dict[str, int]:
    async with pool.acquire() as conn:
        fresh = await prepare_rebuild(conn, projection, resume=resume)
        rows = await conn.fetch("SELECT topic, position FROM store_checkpoints WHERE consumer = $1", fresh)
    return {r["topic"]: r["position"] for r in rows}


class _StoreRebuild:
    """One rebuild from the stores: the sources (one per topic, from the rebuild's store checkpoints), the batcher,
    and the progress counted over everything the sources hold up to their heads at the start."""

    def __init__(self, projection: Projection, pool: asyncpg.Pool, sources: list[_Source], *, batch_size: int,
                 progress: Progress | None):
        self.projection, self.pool, self.sources, self.batch_size = projection, pool, sources, batch_size
        self.batcher = _StoreBatcher(projection, projection.name + REBUILD_SUFFIX)
        self.progress, self.total, self.consumed = progress, 0, 0

    async def heads(self) -> dict[str, int]:
        return {s.topic: await s.head() for s in self.sources}

    async def count(self, goals: dict[str, int]) -> None:
        for s in self.sources:
            async with s.pool.acquire() as c:
                self.total += await c.fetchval(_COUNT, s.topic, s.position, goals[s.topic])

    async def apply(self, records: list[_Stored], conn: asyncpg.Connection | None) -> None:
        """One batch, in its own transaction (conn None) or in the caller's."""
        if conn is None:
            async with self.pool.acquire() as c, c.transaction():
                await self.batcher.apply(c, records)
        else:
            await self.batcher.apply(conn, records)
        self.consumed += len(records)
        if self.progress:
            self.progress(self.consumed, max(self.total, self.consumed))

    async def pull(self, goal: dict[str, int], conn: asyncpg.Connection | None) -> None:
        """Every source up to its goal position, merged by occurred-at, in batches."""
        while True:
            batch: list[_Stored] = []
            while len(batch) < self.batch_size:
                ready = [s for s in self.sources if await s.has_next(goal[s.topic])]
                if not ready:
                    break
                src = min(ready, key=lambda s: s.buffer[0]["occurred_at"])
                batch.append(_as_stored(src.topic, src.buffer.popleft()))
            if not batch:
                return
            await self.apply(batch, conn)

    async def swap(self) -> None:
        """Under the projection's exclusive lock: the stores to their heads, what the live consumer handled that the
        rebuild has not, the live consumer's Kafka checkpoints carried over, then the swap."""
        fresh, live = self.batcher.consumer_name, self.projection.name
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", lock_key(live))
            await self.pull(await self.heads(), conn)
            await _apply_what_live_handled(conn, self.projection, self.sources, self.apply)
            await conn.execute("DELETE FROM store_checkpoints WHERE consumer = $1", fresh)  # done: no resume needed
            await conn.execute("DELETE FROM checkpoints WHERE consumer = $1", fresh)
            await conn.execute(
                'INSERT INTO checkpoints (consumer, topic, partition, "offset", event_time, updated_at) '
                'SELECT $2, topic, partition, "offset", event_time, updated_at FROM checkpoints WHERE consumer = $1',
                live, fresh)
            await swap_in_rebuild(conn, self.projection)


@collecting_less
async def rebuild_from_store(
    projection: Projection,
    pool: asyncpg.Pool,
    stores: Mapping[str, asyncpg.Pool],
    *,
    batch_size: int = 5000,
    resume: bool = True,
    progress: Progress | None = None,
) -> RebuildResult:
    """`pool`: the projection's database; `stores`: for each topic the projection reads, the store publishing it."""
    missing = [t for t in projection.topics if t not in stores]
    if missing:
        raise ValueError(f"no event store given for topic(s) {', '.join(missing)} of projection {projection.name}")
    started = time.perf_counter()
    done = await _prepare(pool, projection, resume)
    sources = [_Source(t, stores[t], done.get(t, 0), batch_size) for t in projection.topics]
    rebuild = _StoreRebuild(projection, pool, sources, batch_size=batch_size, progress=progress)
    goals = await rebuild.heads()
    await rebuild.count(goals)
    await rebuild.pull(goals, None)
    await rebuild.swap()
    b = rebuild.batcher
    return RebuildResult(projection.name, b.applied, b.duplicates, b.undecodable, time.perf_counter() - started)


async def _apply_what_live_handled(conn, projection: Projection, sources: list[_Source], apply) -> None:
    fresh = projection.name + REBUILD_SUFFIX
    ids = [r["event_id"] for r in await conn.fetch(
        "SELECT event_id FROM inbox WHERE consumer = $1 EXCEPT SELECT event_id FROM inbox WHERE consumer = $2",
        projection.name, fresh)]
    if not ids:
        return
    found = 0
    for s in sources:
        async with s.pool.acquire() as c:
            rows = await c.fetch(_BY_ID, s.topic, ids)
        if rows:
            found += len(rows)
            await apply([_as_stored(s.topic, r) for r in rows], conn)
    if found < len(ids):
        log.warning("%s: %d event(s) the live projection handled are in no store (run `kim audit verify`)",
                    projection.name, len(ids) - found)
