"""A second stack in its own dir and ports: `up` is idempotent and `down` stops exactly its own processes.

The second stack lives in a folder only its owner may enter (mode 700, as `mktemp -d` makes it): run as root,
PostgreSQL (which runs as an unprivileged user) gets its data and binaries outside it. The suite's own stack is not
`make run`'s, and its broker holds the planned topics with compose's partitions and creates no others.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import stat
import tempfile
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaClient
from aiokafka.errors import UnknownTopicOrPartitionError

from kim_cli import stack_kafka, stack_postgres
from kim_cli.stack import StackConfig, create_database, down, drop_database, ensure_up, status, stop
from kim_cli.stack_procs import is_alive
from kim_cli.stack_topics import planned_topics
from kim_runtime.kafka import make_broker
from kim_runtime.settings import RuntimeSettings
from tests.ports import free_port as _free_port




@pytest.fixture
def second_stack(stack):
    private = Path(tempfile.mkdtemp(prefix="kim-lifecycle-"))  # mode 700, like a clone in a `mktemp -d` folder
    cfg = StackConfig(stack_dir=private / "clone" / ".cache" / "stack", kafka_port=_free_port(),
                      kafka_controller_port=_free_port(), postgres_port=_free_port(), kafka_bootstrap=None,
                      postgres_url=None)
    data = stack_postgres.paths(cfg)["data"]
    yield cfg
    down(cfg)
    shutil.rmtree(private, ignore_errors=True)
    if data.is_relative_to(stack_postgres.OUTSIDE_DATA_ROOT):
        shutil.rmtree(data.parent, ignore_errors=True)


async def _partitions(bootstrap: str) -> dict[str, int]:
    client = AIOKafkaClient(bootstrap_servers=bootstrap)
    await client.bootstrap()
    try:
        cluster = await client.fetch_all_metadata()
        return {t: len(cluster.partitions_for_topic(t)) for t in cluster.topics() if not t.startswith("__")}
    finally:
        await client.close()


def _session_pids(stack) -> list[int]:
    """Live pids of the session stack (whether this run started it or found it running)."""
    parts = status(StackConfig.from_env())
    return [p["pid"] for p in parts.values() if p["pid"]] + stack.started_pids


async def test_up_is_idempotent_and_down_stops_exactly_its_pids(stack, second_stack):
    others = _session_pids(stack)
    assert stat.S_IMODE(second_stack.dir.parents[2].stat().st_mode) == 0o700
    first = ensure_up(second_stack)
    assert len(first.started_pids) == 2
    assert all(is_alive(pid) for pid in first.started_pids)
    assert first.kafka_bootstrap == f"127.0.0.1:{second_stack.kafka_port}"
    if os.geteuid() == 0:  # the PostgreSQL user could not have entered the folder
        assert stack_postgres.paths(second_stack)["data"].is_relative_to(stack_postgres.OUTSIDE_DATA_ROOT)
    assert await _partitions(first.kafka_bootstrap) == planned_topics(second_stack.repo_root)

    again = ensure_up(second_stack)
    assert again.started_pids == []
    assert (again.kafka_bootstrap, again.postgres_url) == (first.kafka_bootstrap, first.postgres_url)
    stop(again)  # started nothing, so stops nothing
    assert all(is_alive(pid) for pid in first.started_pids)

    await create_database(first.postgres_url, "kim_lifecycle")
    await create_database(first.postgres_url, "kim_lifecycle")  # idempotent
    await drop_database(first.postgres_url, "kim_lifecycle")

    stopped = down(second_stack)
    assert sorted(stopped) == sorted(first.started_pids)
    assert not any(is_alive(pid) for pid in first.started_pids)
    assert not stack_kafka.paths(second_stack)["pid"].exists()
    assert not stack_postgres.paths(second_stack)["pid"].exists()
    assert all(is_alive(pid) for pid in others)
    assert down(second_stack) == []  # nothing left to stop


async def test_the_suite_runs_on_its_own_stack_with_the_planned_topics_and_no_others(stack):
    run_ports = {StackConfig.model_fields[n].default for n in ("kafka_port", "kafka_controller_port", "postgres_port")}
    cfg = stack.config
    assert cfg.dir != cfg.repo_root / ".cache" / "stack"  # `make run`'s
    assert not {cfg.kafka_port, cfg.kafka_controller_port, cfg.postgres_port} & run_ports
    before = await _partitions(stack.kafka_bootstrap)
    planned = planned_topics(stack.config.repo_root)
    assert {t: before[t] for t in planned} == planned

    # a FastStream subscriber and a metadata request for a topic nobody created do not create it
    topic = f"kim.never-created.{uuid.uuid4().hex[:8]}"
    broker = make_broker(RuntimeSettings(service="autocreate", kafka_bootstrap=stack.kafka_bootstrap))
    broker.subscriber(topic, group_id=f"autocreate-{uuid.uuid4().hex[:8]}")(_ignore)
    try:
        with contextlib.suppress(UnknownTopicOrPartitionError):  # it refuses to start without its topic: fine
            await broker.start()
            await asyncio.sleep(1)  # time to ask for (and so auto-create) the topic, were it allowed
    finally:
        await broker.stop()
    client = AIOKafkaClient(bootstrap_servers=stack.kafka_bootstrap)
    await client.bootstrap()
    try:
        await client._metadata_update(client.cluster, [topic])  # would auto-create it on a broker that allows it
    finally:
        await client.close()
    assert topic not in await _partitions(stack.kafka_bootstrap)


async def _ignore(body: bytes) -> None:
    return None

