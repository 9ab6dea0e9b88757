"""A projection rebuilt from offset zero into fresh tables while readers and the live consumer keep going."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from kim_runtime.projection import Projection, ProjectionHandler
from kim_runtime.rebuild import rebuild_from_kafka

from .harness import TEST_CONTRACT, Harness, event, eventually, unique

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


class CountPerStream(Projection):
    contract = TEST_CONTRACT
    ddl = "CREATE TABLE IF NOT EXISTS {schema}.counts (stream_id text PRIMARY KEY, n int NOT NULL, total bigint NOT NULL)"

    def __init__(self, name: str, topic: str):
        self.name = name
        self.topics = (topic,)

    async def apply(self, conn, schema, ev):
        await conn.execute(
            f"INSERT INTO {schema}.counts VALUES ($1, 1, $2) ON CONFLICT (stream_id) DO UPDATE "
            f"SET n = counts.n + 1, total = counts.total + excluded.total", ev.stream_id, ev.data["n"])

    async def apply_batch(self, conn, schema, events):
        agg: dict[str, list[int]] = {}
        for ev in events:
            a = agg.setdefault(ev.stream_id, [0, 0])
            a[0] += 1
            a[1] += ev.data["n"]
        await conn.executemany(
            f"INSERT INTO {schema}.counts VALUES ($1, $2, $3) ON CONFLICT (stream_id) DO UPDATE "
            f"SET n = counts.n + excluded.n, total = counts.total + excluded.total",
            [(s, a[0], a[1]) for s, a in agg.items()])


async def test_rebuild_swaps_in_fresh_tables_with_no_gap_for_readers(fresh_db, kafka_bootstrap):
    topic = unique("kim.test")
    projection = CountPerStream("counts_" + topic.rsplit(".", 1)[1], topic)
    async with Harness(fresh_db, kafka_bootstrap, topic, unique("kim.dlq")) as h:
        async with h.pool.acquire() as conn:
            await projection.create_schema(conn)
        h.consumers.add(ProjectionHandler(projection))
        await h.start()
        versions = {f"s{i}": 0 for i in range(5)}

        async def append(n: int) -> None:
            s = f"s{n % 5}"
            await h.store.append(s, [event(s, n)], versions[s])
            versions[s] += 1

        for n in range(1, 201):
            await append(n)

        async def live_total():
            async with h.pool.acquire() as conn:
                v = await conn.fetchval(f'SELECT coalesce(sum(n), 0) FROM "{projection.name}".counts')
            return v if v >= 200 else None

        await eventually(live_total)
        # damage the live view, as a bug would: the rebuild must repair it
        async with h.pool.acquire() as conn:
            await conn.execute(f"UPDATE \"{projection.name}\".counts SET total = -1 WHERE stream_id = 's0'")

        seen: list[int] = []
        stop = asyncio.Event()

        async def reader():
            while not stop.is_set():
                async with h.pool.acquire() as conn:
                    seen.append(await conn.fetchval(f'SELECT coalesce(sum(n), 0) FROM "{projection.name}".counts'))
                await asyncio.sleep(0.005)

        async def writer():
            for n in range(201, 301):
                await append(n)
                await asyncio.sleep(0.002)

        reading = asyncio.create_task(reader())
        progress: list[tuple[int, int]] = []
        result, _ = await asyncio.gather(
            rebuild_from_kafka(projection, h.pool, kafka_bootstrap, batch_size=50,
                               progress=lambda d, t: progress.append((d, t))),
            writer(),
        )
        async def all_counted():
            async with h.pool.acquire() as conn:
                rows = await conn.fetch(f'SELECT stream_id, n, total FROM "{projection.name}".counts')
            return rows if sum(r["n"] for r in rows) == 300 else None

        rows = await eventually(all_counted)
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await reading

        expected = {f"s{i}": (60, sum(n for n in range(1, 301) if n % 5 == i)) for i in range(5)}
        assert {r["stream_id"]: (r["n"], r["total"]) for r in rows} == expected
        assert result.events_applied >= 200 and result.duplicates == 0
        assert seen and min(seen) >= 200, "a reader saw the projection empty or shrunk during the swap"
        assert seen == sorted(seen), "a reader saw the count go backwards"
        assert progress and progress[-1][0] >= 200
        async with h.pool.acquire() as conn:
            schemas = {r["nspname"] for r in await conn.fetch("SELECT nspname FROM pg_namespace")}
        assert projection.name in schemas and not {projection.name + "__rebuild", projection.name + "__old"} & schemas
