"""The fault tier's consumer process: `python recorder.py DSN BOOTSTRAP GROUP_PREFIX DELAY_MS`.

It handles kim.cases through the runtime's ConsumerRunner (a fetched batch's inbox claims + checkpoints + effects in
one transaction, offsets committed to Kafka in batches afterwards). Its effect is one row per handled event in `effects`, a table
without a unique key: an event applied twice shows as two rows. Every delivery is also counted in `deliveries`. DELAY_MS slows each event down, so that a kill -9
lands in the middle of a fetched batch whose offsets are not committed yet.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from kim_runtime import db
from kim_runtime.consumer import ConsumerRunner
from kim_runtime.kafka import make_broker
from kim_runtime.resilience import is_unavailable
from kim_runtime.settings import RuntimeSettings

SERVICE = "faults"
TOPIC = "kim.cases"
DDL = """
CREATE TABLE IF NOT EXISTS effects (
    event_id uuid NOT NULL, stream_id text NOT NULL, version int,
    handled_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE TABLE IF NOT EXISTS deliveries (partition int NOT NULL, "offset" bigint NOT NULL)
"""


class Recorder:
    name = "recorder"
    topics = (TOPIC,)

    def __init__(self, delay_s: float):
        self.delay_s = delay_s

    async def handle(self, conn, event) -> None:
        await conn.execute("INSERT INTO effects (event_id, stream_id, version) VALUES ($1, $2, $3)",
                           event.id, event.stream_id, event.stream_version)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)


class CountingRunner(ConsumerRunner):
    """Records every delivery (outside the handler's transaction): a record delivered twice shows as two rows."""

    async def process_batch(self, handler, records):
        while True:  # the database may be restarting: this count must not make the records fail
            try:
                async with self.pool.acquire() as conn:
                    await conn.execute('INSERT INTO deliveries (partition, "offset") SELECT * FROM unnest($1::int[], '
                                       '$2::bigint[])', [r.partition for r in records], [r.offset for r in records])
                break
            except Exception as exc:
                if not is_unavailable(exc):
                    raise
                await asyncio.sleep(0.1)
        return await super().process_batch(handler, records)


def group_id(prefix: str) -> str:
    return f"{prefix}-{SERVICE}-{Recorder.name}"


async def main(dsn: str, bootstrap: str, prefix: str, delay_ms: int) -> None:
    settings = RuntimeSettings(service=SERVICE, database_url=dsn, kafka_bootstrap=bootstrap)
    pool = await db.create_pool(dsn)
    broker = make_broker(settings)
    runner = CountingRunner(SERVICE, pool, broker, f"kim.dlq.{prefix}", group_prefix=prefix)
    runner.add(Recorder(delay_ms / 1000))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await broker.start()
    print("ready", flush=True)
    await stop.wait()
    await broker.stop()
    await pool.close()


if __name__ == "__main__":
    dsn_, bootstrap_, prefix_, delay_ = sys.argv[1:5]
    asyncio.run(main(dsn_, bootstrap_, prefix_, int(delay_)))
