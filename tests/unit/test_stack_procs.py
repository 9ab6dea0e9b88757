"""Pid bookkeeping of the local stack, with plain `sleep` processes standing in for Kafka and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kim_cli.stack_procs import is_alive, owned_pid, terminate, write_pid


@pytest.fixture
def sleeper(tmp_path):
    marker = str(tmp_path / "marker.conf")
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", marker])
    yield proc, marker
    proc.kill()
    proc.wait()


def test_owned_pid_requires_a_live_process_naming_the_marker(tmp_path, sleeper):
    proc, marker = sleeper
    pid_file = tmp_path / "x.pid"
    assert owned_pid(pid_file, marker) is None  # no pid file yet
    write_pid(pid_file, proc.pid)
    assert owned_pid(pid_file, marker) == proc.pid
    assert owned_pid(pid_file, str(tmp_path / "another-stack.conf")) is None  # a recycled pid is not ours


def test_terminate_stops_the_given_pids_and_no_others(sleeper, tmp_path):
    proc, _ = sleeper
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        terminate([proc.pid], grace_s=5)
        assert not is_alive(proc.pid)
        assert is_alive(bystander.pid)
    finally:
        bystander.kill()
        bystander.wait()


def test_terminate_kills_a_process_that_ignores_sigterm():
    stubborn = subprocess.Popen([sys.executable, "-c",
                                 "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                                 "print('ready', flush=True); time.sleep(60)"], stdout=subprocess.PIPE)
    assert stubborn.stdout.readline() == b"ready\n"
    terminate([stubborn.pid], grace_s=0.5)
    assert not is_alive(stubborn.pid)
