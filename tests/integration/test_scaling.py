"""Scale-out on the real stack: two processes of one consumer in one consumer group share the topic's partitions,
and every event has exactly one effect, also when one process leaves and the other takes its partitions over.

The same file is the worker: `python test_scaling.py DSN BOOTSTRAP TOPIC DLQ WORKER` runs the runtime's
ConsumerRunner for one handler, prints each partition assignment it gets, and records which worker handled which
event from which partition.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from kim_runtime.consumer import RECORD

PARTITIONS = 6
SERVICE = "scaletest"  # consumer group: kim-scaletest-recorder, the same in both processes
WORKER_DDL = """
CREATE TABLE IF NOT EXISTS scaled_effects (
    event_id uuid PRIMARY KEY, stream_id text NOT NULL, worker text NOT NULL, partition int NOT NULL
)
"""

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


# --- the worker process ----------------------------------------------------------------------------------------

class PartitionRecorder:
    """The handler: its effect is one row naming the worker and the partition the event came from."""

    name = "recorder"

    def __init__(self, topic: str, worker: str):
        self.topics = (topic,)
        self.worker = worker

    async def handle(self, conn, event) -> None:
        await conn.execute(
            "INSERT INTO scaled_effects (event_id, stream_id, worker, partition) VALUES ($1, $2, $3, $4)",
            event.id, event.stream_id, self.worker, RECORD.get().partition,  # the record being handled
        )


class AnnouncedAssignments:
    """Prints every assignment, so the test knows when the group has settled."""

    async def on_partitions_revoked(self, revoked) -> None:
        pass

    async def on_partitions_assigned(self, assigned) -> None:
        print("assigned", ",".join(str(tp.partition) for tp in sorted(assigned)), flush=True)


async def worker(dsn: str, bootstrap: str, topic: str, dlq: str, name: str) -> None:
    from aiokafka import ConsumerRebalanceListener

    from kim_runtime import db
    from kim_runtime.consumer import ConsumerRunner
    from kim_runtime.contract import FixedContract, OpenData
    from kim_runtime.kafka import make_broker
    from kim_runtime.settings import RuntimeSettings

    class Listener(AnnouncedAssignments, ConsumerRebalanceListener):
        pass

    settings = RuntimeSettings(service=SERVICE, database_url=dsn, kafka_bootstrap=bootstrap)
    pool = await db.create_pool(dsn)
    broker = make_broker(settings)
    subscribe = broker.subscriber
    broker.subscriber = lambda *a, **kw: subscribe(*a, listener=Listener(), **kw)  # only to observe assignments
    runner = ConsumerRunner(SERVICE, pool, broker, dlq, contract=FixedContract({"kim.test.Counted": OpenData}))
    runner.add(PartitionRecorder(topic, name))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await broker.start()
    print("ready", flush=True)
    await stop.wait()
    await broker.stop()  # leaves the group, so the other worker takes the partitions over at once
    await pool.close()


# --- the test --------------------------------------------------------------------------------------------------


class Worker:
    def __init__(self, name: str, *args: str):
        self.name, self.args, self.assignments = name, args, [None]

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, str(Path(__file__)), *self.args, self.name, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, env=os.environ | {"PYTHONUNBUFFERED": "1"},
        )
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        self.output: list[str] = []
        async for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip()
            self.output.append(line)
            if line.startswith("assigned"):
                parts = line.removeprefix("assigned").strip()
                self.assignments.append({int(p) for p in parts.split(",")} if parts else set())

    @property
    def assigned(self) -> set[int] | None:
        return self.assignments[-1]

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), timeout=30)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        await self.reader


def keys_covering_every_partition(prefix: str, per_partition: int) -> list[str]:
    """Stream ids that the default partitioner (murmur2, as in the Java client) spreads over every partition."""
    from aiokafka.partitioner import murmur2

    by_partition: dict[int, list[str]] = {p: [] for p in range(PARTITIONS)}
    i = 0
    while any(len(keys) < per_partition for keys in by_partition.values()):
        key = f"{prefix}-{i}"
        by_partition[(murmur2(key.encode()) & 0x7FFFFFFF) % PARTITIONS].append(key)
        i += 1
    return [k for keys in by_partition.values() for k in keys[:per_partition]]


async def create_topic(bootstrap: str, topic: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)])
    finally:
        await admin.close()


async def test_two_processes_in_one_group_share_the_partitions_and_handle_each_event_once(fresh_db, kafka_bootstrap):
    from tests.integration.runtime.harness import Harness, event, eventually, unique

    topic, dlq = unique("kim.scale"), unique("kim.dlq")
    await create_topic(kafka_bootstrap, topic)
    async with Harness(fresh_db, kafka_bootstrap, topic, dlq, service="scaletest-producer") as h:
        async with h.pool.acquire() as conn:
            await conn.execute(WORKER_DDL)
        await h.start()
        a, b = (Worker(n, fresh_db, kafka_bootstrap, topic, dlq) for n in ("a", "b"))
        try:
            await a.start()
            await b.start()

            async def settled():  # both in the group, the partitions split between them
                return a.assigned and b.assigned and a.assigned | b.assigned == set(range(PARTITIONS)) \
                    and not a.assigned & b.assigned

            await eventually(settled, timeout=120)
            first = keys_covering_every_partition("s", per_partition=4)
            for stream in first:
                await h.store.append(stream, [event(stream, 1), event(stream, 2)], expected_version=0)
            rows = await eventually(lambda: _rows_when(h, 2 * len(first)), timeout=120)

            by_worker = {w: {r["partition"] for r in rows if r["worker"] == w} for w in ("a", "b")}
            assert by_worker["a"] and by_worker["b"], f"one process did all the work: {by_worker}"
            assert by_worker["a"] <= a.assigned and by_worker["b"] <= b.assigned
            assert not by_worker["a"] & by_worker["b"], "a partition was consumed by both processes"

            # One process leaves; the other takes over all partitions, and still nothing is handled twice.
            await b.stop()
            await eventually(lambda: _true(a.assigned == set(range(PARTITIONS))), timeout=120)
            second = keys_covering_every_partition("t", per_partition=2)
            for stream in second:
                await h.store.append(stream, [event(stream, 1)], expected_version=0)
            rows = await eventually(lambda: _rows_when(h, 2 * len(first) + len(second)), timeout=120)
            assert {r["worker"] for r in rows if r["stream_id"].startswith("t-")} == {"a"}
        finally:
            await asyncio.gather(a.stop(), b.stop(), return_exceptions=True)

        async with h.pool.acquire() as conn:
            claims = await conn.fetchval("SELECT count(*) FROM inbox WHERE consumer = 'recorder'")
        published = 2 * len(first) + len(second)
        assert len(rows) == published and len({r["event_id"] for r in rows}) == published
        assert claims == published, "an event was claimed twice or not at all"


async def _rows_when(h, count: int):
    async with h.pool.acquire() as conn:
        rows = await conn.fetch("SELECT event_id, stream_id, worker, partition FROM scaled_effects")
    return rows if len(rows) >= count else None


async def _true(value: bool):
    return value


if __name__ == "__main__":
    asyncio.run(worker(*sys.argv[1:6]))
