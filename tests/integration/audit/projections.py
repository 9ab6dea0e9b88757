"""Test projections for `kim replay --module tests.integration.audit.projections` (the services have their own).

KIM_AUDIT_TEST_TOPIC names the topic they read (default kim.cases); KIM_AUDIT_TEST_PAUSE (seconds) slows every
batch down so a test can interrupt a replay half-way.
"""

from __future__ import annotations

import asyncio
import os

from kim_runtime.projection import Projection

from tests.integration.runtime.harness import TEST_CONTRACT

SERVICE = "cases"


class CountPerStream(Projection):
    contract = TEST_CONTRACT  # the harness's events (tests.integration.runtime.harness)
    ddl = "CREATE TABLE IF NOT EXISTS {schema}.counts (stream_id text PRIMARY KEY, n int NOT NULL, total bigint NOT NULL)"

    def __init__(self, name: str, topics: tuple[str, ...], pause: float = 0.0):
        self.name, self.topics, self.pause = name, topics, pause

    async def apply(self, conn, schema, event):
        await self.apply_batch(conn, schema, [event])

    async def apply_batch(self, conn, schema, events):
        agg: dict[str, list[int]] = {}
        for ev in events:
            a = agg.setdefault(ev.stream_id, [0, 0])
            a[0] += 1
            a[1] += ev.data.get("n", 0)
        await conn.executemany(
            f"INSERT INTO {schema}.counts VALUES ($1, $2, $3) ON CONFLICT (stream_id) DO UPDATE "
            f"SET n = counts.n + excluded.n, total = counts.total + excluded.total",
            [(s, a[0], a[1]) for s, a in agg.items()])
        if self.pause:
            await asyncio.sleep(self.pause)


def _topics() -> tuple[str, ...]:
    return tuple(os.environ.get("KIM_AUDIT_TEST_TOPIC", "kim.cases").split(","))


PROJECTIONS = [CountPerStream("audit_counts", _topics(), float(os.environ.get("KIM_AUDIT_TEST_PAUSE", "0")))]
