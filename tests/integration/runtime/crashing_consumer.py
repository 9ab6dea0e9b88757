"""A consumer process for the redelivery test: `python crashing_consumer.py DSN BOOTSTRAP TOPIC DLQ CRASH_AFTER`.

It records every delivery (outside the handler's transaction), handles through the runtime's ConsumerRunner and,
when CRASH_AFTER > 0, dies with os._exit right after the batch with the CRASH_AFTER-th effect is committed, before
the Kafka offsets are: the next consumer in the group gets those records again.
"""

from __future__ import annotations

import asyncio
import os
import sys

from kim_runtime import db
from kim_runtime.consumer import ConsumerRunner
from kim_runtime.contract import FixedContract, OpenData
from kim_runtime.kafka import make_broker
from kim_runtime.settings import RuntimeSettings


class CountingRecorder:
    name = "recorder"

    def __init__(self, topic: str):
        self.topics = (topic,)

    async def handle(self, conn, event) -> None:
        await conn.execute("INSERT INTO effects (event_id, stream_id, n) VALUES ($1, $2, $3)",
                           event.id, event.stream_id, event.data["n"])


class CrashingRunner(ConsumerRunner):
    def __init__(self, *a, crash_after: int, **kw):
        super().__init__(*a, **kw)
        self.crash_after = crash_after
        self.effects = 0  # records handled with an effect by this process

    async def process_batch(self, handler, records):
        from kim_runtime.consumer import decode

        async with self.pool.acquire() as conn:
            await conn.execute("INSERT INTO deliveries (event_id) SELECT unnest($1::uuid[])",
                               [decode(r, self.contract).id for r in records])
        had_effect = await super().process_batch(handler, records)
        self.effects += sum(had_effect)
        if self.crash_after and self.effects >= self.crash_after:
            os._exit(17)  # the effects are committed; the Kafka offsets are not
        return had_effect


async def main(dsn: str, bootstrap: str, topic: str, dlq: str, crash_after: int) -> None:
    settings = RuntimeSettings(service="crashtest", database_url=dsn, kafka_bootstrap=bootstrap)
    pool = await db.create_pool(dsn)
    broker = make_broker(settings)
    runner = CrashingRunner("crashtest", pool, broker, dlq, crash_after=crash_after,
                            contract=FixedContract({"kim.test.Counted": OpenData}))
    runner.add(CountingRecorder(topic))
    await broker.start()
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    dsn, bootstrap, topic, dlq, crash_after = sys.argv[1:6]
    asyncio.run(main(dsn, bootstrap, topic, dlq, int(crash_after)))
