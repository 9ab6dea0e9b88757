"""How far behind each projection is: Kafka's end offsets against the projection's checkpoints."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from kim_runtime.projection import Projection, lag


class EndOffsets:
    """Kafka clients without a consumer group: the admin client names each topic's partitions (topics created
    meanwhile included), a bare consumer reads their end offsets."""

    def __init__(self, bootstrap: str, options: dict | None = None):
        self.bootstrap = bootstrap
        self.options = options or {}
        self._admin: AIOKafkaAdminClient | None = None
        self._client: AIOKafkaConsumer | None = None
        self._lock = asyncio.Lock()

    async def _started(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        async with self._lock:
            if self._client is None:
                admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=5000, **self.options)
                await admin.start()
                client = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None,
                                          enable_auto_commit=False, request_timeout_ms=5000, **self.options)
                await client.start()
                self._admin, self._client = admin, client
            return self._admin, self._client

    async def of(self, topics: tuple[str, ...]) -> dict[tuple[str, int], int]:
        admin, client = await self._started()
        tps = [TopicPartition(t["topic"], p["partition"]) for t in await admin.describe_topics(list(topics))
               if not t["error_code"] for p in t["partitions"]]
        if not tps:
            return {}
        ends = await client.end_offsets(tps)
        return {(tp.topic, tp.partition): off for tp, off in ends.items()}

    async def close(self) -> None:
        for closing in (self._client and self._client.stop(), self._admin and self._admin.close()):
            if closing is not None:
                with contextlib.suppress(Exception):
                    await closing
        self._client = self._admin = None


async def projection_lag(conn: asyncpg.Connection, offsets: EndOffsets, projection: Projection) -> dict:
    """{'projection', 'events_behind', 'seconds_behind', 'last_event_time'} for one projection.

    seconds_behind is 0 when nothing is waiting; otherwise the age of the last event the projection handled (the
    events waiting are at most that old).
    """
    result = await lag(conn, projection.name, await offsets.of(tuple(projection.topics)))
    last = result["last_event_time"]
    behind = result["events_behind"]
    seconds = 0.0
    if behind:
        seconds = (datetime.now(UTC) - last).total_seconds() if last else None
    return {"projection": projection.name, "topics": list(projection.topics), "events_behind": behind,
            "seconds_behind": seconds, "last_event_time": last.isoformat() if last else None}
