"""A second stack in its own dir and ports: `up` is idempotent and `down` stops exactly its own processes."""

from __future__ import annotations

import shutil
import socket
import tempfile
from pathlib import Path

import pytest

from kim_cli import stack_kafka, stack_postgres
from kim_cli.stack import StackConfig, create_database, down, drop_database, ensure_up, status, stop
from kim_cli.stack_procs import is_alive


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def second_stack(stack):
    # under the repo's .cache, not /tmp/pytest-of-root (mode 700): the postgres system user must traverse it
    root = StackConfig.from_env().cache_dir / "test-stacks"
    root.mkdir(parents=True, exist_ok=True)
    stack_dir = Path(tempfile.mkdtemp(prefix="lifecycle-", dir=root))
    stack_dir.chmod(0o755)
    cfg = StackConfig(stack_dir=stack_dir, kafka_port=_free_port(), kafka_controller_port=_free_port(),
                      postgres_port=_free_port(), kafka_bootstrap=None, postgres_url=None)
    yield cfg
    down(cfg)
    shutil.rmtree(stack_dir, ignore_errors=True)


def _session_pids(stack) -> list[int]:
    """Live pids of the session stack (whether this run started it or found it running)."""
    parts = status(StackConfig.from_env())
    return [p["pid"] for p in parts.values() if p["pid"]] + stack.started_pids


async def test_up_is_idempotent_and_down_stops_exactly_its_pids(stack, second_stack):
    others = _session_pids(stack)
    first = ensure_up(second_stack)
    assert len(first.started_pids) == 2
    assert all(is_alive(pid) for pid in first.started_pids)
    assert first.kafka_bootstrap == f"127.0.0.1:{second_stack.kafka_port}"

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
