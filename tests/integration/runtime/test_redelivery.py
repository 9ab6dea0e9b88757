"""A consumer that dies after its effect but before committing its offset has no second effect on redelivery."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from .harness import Harness, event, eventually, unique

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

SCRIPT = Path(__file__).with_name("crashing_consumer.py")


async def _spawn(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, str(SCRIPT), *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env=os.environ | {"PYTHONUNBUFFERED": "1"},
    )


async def test_redelivered_event_has_no_second_effect(fresh_db, kafka_bootstrap):
    topic, dlq = unique("kim.test"), unique("kim.dlq")
    async with Harness(fresh_db, kafka_bootstrap, topic, dlq) as h:
        await h.start()
        # one stream, one partition: the crash leaves exactly the records after the last commit uncommitted
        await h.store.append("s1", [event("s1", i) for i in range(1, 6)], expected_version=0)
        first = await _spawn(fresh_db, kafka_bootstrap, topic, dlq, "1")
        try:
            assert await asyncio.wait_for(first.wait(), timeout=120) == 17, "the consumer did not crash as planned"
        finally:
            if first.returncode is None:
                first.kill()
        first_batch = [r["n"] for r in await h.effects()]  # the batch the crash came after: committed whole
        assert first_batch == list(range(1, len(first_batch) + 1)) and first_batch, first_batch

        second = await _spawn(fresh_db, kafka_bootstrap, topic, dlq, "0")
        try:
            # a later event on the same stream (same partition): once it has its effect, the redelivered ones
            # before it have been handled too
            await h.store.append("s1", [event("s1", 6)], expected_version=5)
            rows = await eventually(lambda: _when(h.effects(), lambda r: len(r) >= 6))
            async with h.pool.acquire() as conn:
                delivered = await conn.fetchval(
                    "SELECT count(*) FROM deliveries WHERE event_id = $1", rows[0]["event_id"]
                )
                claims = await conn.fetchval("SELECT count(*) FROM inbox WHERE consumer = 'recorder'")
        finally:
            second.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(second.wait(), timeout=30)
            except TimeoutError:
                second.kill()
                await second.wait()
        assert sorted(r["n"] for r in rows) == [1, 2, 3, 4, 5, 6]
        assert len(rows) == 6, "an event had a second effect"
        assert delivered == 2, "event 1 was not redelivered, so the test proved nothing"
        assert claims == 6


async def _when(coro, pred):
    value = await coro
    return value if pred(value) else None
