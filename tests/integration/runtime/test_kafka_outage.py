"""Kafka stopped during appends, then restarted: every event arrives, none has a second effect.

The test runs its own broker (same jars as the stack, its own ports and data dir) so it can stop and restart it
without disturbing the session's stack.
"""

from __future__ import annotations


import pytest

from kim_cli import stack_kafka
from kim_cli.stack_config import StackConfig
from kim_cli.stack_procs import is_alive, terminate

from .harness import Harness, Recorder, event, eventually, unique
from tests.ports import free_port as _free_port

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]




class PrivateBroker:
    def __init__(self, tmp_path):
        self.cfg = StackConfig(stack_dir=tmp_path / "stack", kafka_port=_free_port(),
                               kafka_controller_port=_free_port(), kafka_bootstrap=None, postgres_url=None)
        self.libs = stack_kafka.ensure_jars(self.cfg)
        stack_kafka.write_config(self.cfg)
        stack_kafka.format_storage(self.cfg, self.libs)
        self.pid: int | None = None

    async def start(self) -> None:
        self.pid = stack_kafka.start(self.cfg, self.libs)
        await stack_kafka.wait_ready(self.cfg, self.pid)

    def stop(self) -> None:
        if self.pid is not None:
            terminate([self.pid])
            assert not is_alive(self.pid)
            self.pid = None


@pytest.fixture
async def broker(tmp_path):
    b = PrivateBroker(tmp_path)
    await b.start()
    try:
        yield b
    finally:
        b.stop()


async def test_events_appended_while_kafka_is_down_arrive_once_it_is_back(fresh_db, broker):
    topic = unique("kim.test")
    async with Harness(fresh_db, broker.cfg.bootstrap(), topic, unique("kim.dlq")) as h:
        h.consumers.add(Recorder(topic))
        await h.start()
        versions = {f"s{i}": 0 for i in range(4)}

        async def append(n: int) -> None:
            stream = f"s{n % 4}"
            await h.store.append(stream, [event(stream, n)], versions[stream])
            versions[stream] += 1

        for n in range(1, 21):
            await append(n)
        await eventually(lambda: _count_at_least(h, 20))

        broker.stop()
        for n in range(21, 51):
            await append(n)  # the store does not need Kafka: rows wait in the outbox
        assert await h.relay.pending() == 30
        assert len(await h.effects()) == 20

        await broker.start()
        rows = await eventually(lambda: _count_at_least(h, 50), timeout=120)
        assert sorted(r["n"] for r in rows) == list(range(1, 51))
        for s in versions:
            ns = [r["n"] for r in rows if r["stream_id"] == s]
            assert ns == sorted(ns), f"stream {s} out of order: {ns}"
        await eventually(lambda: _zero(h.relay.pending()))
        async with h.pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM inbox") == 50


async def _count_at_least(h: Harness, n: int):
    rows = await h.effects()
    return rows if len(rows) >= n else None


async def _zero(coro):
    return (await coro) == 0
