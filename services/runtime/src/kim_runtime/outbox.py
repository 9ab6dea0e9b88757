"""The outbox relay: publishes appended events to Kafka in order, marks them sent; nothing is lost while Kafka is down.

One relay per database is active at a time (an advisory lock elects it), so per-stream order holds even with
several replicas of a service. Rows are published in position order in batches; the producer is idempotent, so a
batch retried after a failure keeps its order and any duplicate it causes is absorbed by the consumers' inbox.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import asyncpg
from faststream.kafka import KafkaBroker

from .store import row_to_envelope

log = logging.getLogger(__name__)

RELAY_LOCK = 0x4B494D01

_FETCH = """
SELECT o.position, o.topic, e.event_id, e.stream_id, e.version, e.type, e.schema_version, e.occurred_at,
       e.metadata, e.data
FROM outbox o JOIN events e USING (position)
WHERE o.sent_at IS NULL ORDER BY o.position LIMIT $1
"""


class OutboxRelay:
    def __init__(
        self,
        pool: asyncpg.Pool,
        broker: KafkaBroker,
        *,
        dsn: str,
        batch_size: int = 500,
        poll_interval: float = 1.0,
        on_published: Callable[[int], None] | None = None,
    ):
        self.pool = pool
        self.broker = broker
        self.dsn = dsn
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.on_published = on_published
        self._wake = asyncio.Event()
        self._stopping = False
        self.published = 0

    def _notified(self, *_args) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Run until cancelled: wait for leadership, then relay."""
        listener = await asyncpg.connect(self.dsn)
        try:
            await listener.add_listener("kim_outbox", self._notified)
            while not await listener.fetchval("SELECT pg_try_advisory_lock($1)", RELAY_LOCK):
                await asyncio.sleep(self.poll_interval)
            log.info("outbox relay is the leader for this database")
            await self._relay_forever()
        finally:
            await listener.close()

    async def _relay_forever(self) -> None:
        backoff = 0.2
        while True:
            self._wake.clear()
            try:
                sent = await self.relay_once()
                backoff = 0.2
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Kafka unreachable, timeouts: rows stay unsent and are retried
                log.warning("outbox relay could not publish (%s); retrying in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            if sent < self.batch_size:
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=self.poll_interval)
                except TimeoutError:
                    pass

    async def relay_once(self) -> int:
        """Publish one batch of unsent rows; returns how many were sent."""
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(_FETCH, self.batch_size)
        if not rows:
            return 0
        futures = []
        for row in rows:
            env = row_to_envelope(row, upcast=False)
            futures.append(
                await self.broker.publish(
                    env.kafka_value(),
                    row["topic"],
                    key=env.kafka_key(),
                    headers=env.kafka_headers(),
                    correlation_id=env.correlation_id or env.id,  # faststream always writes this header too
                    no_confirm=True,
                )
            )
        await asyncio.gather(*futures)
        positions = [r["position"] for r in rows]
        async with self.pool.acquire() as conn:
            await conn.execute("UPDATE outbox SET sent_at = now() WHERE position = ANY($1::bigint[])", positions)
        self.published += len(rows)
        if self.on_published:
            self.on_published(len(rows))
        return len(rows)

    async def pending(self) -> int:
        async with self.pool.acquire() as conn:
            return await conn.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
