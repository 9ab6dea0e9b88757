"""Reading kim.cases back from the real broker, filtered to one test's streams (the topic is shared)."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer
from tests.polling import eventually as _eventually


async def records_of(bootstrap: str, topic: str, keys: set[str], *, at_least: int, timeout: float = 60.0) -> list:
    """Every record on `topic` whose key is one of `keys`, once there are at least `at_least` of them."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None,
                                enable_auto_commit=False)
    await consumer.start()
    got: list = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(got) < at_least:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"only {len(got)} of {at_least} records of {sorted(keys)} arrived on {topic}")
            batch = await consumer.getmany(timeout_ms=200)
            got += [m for ms in batch.values() for m in ms if m.key and m.key.decode() in keys]
    finally:
        await consumer.stop()
    return got


eventually = _eventually
