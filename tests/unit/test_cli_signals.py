"""`kim` stops on SIGTERM or SIGHUP as on Ctrl-C: a command's clean-up (its `finally`) still runs."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

SCRIPT = """
import sys, time, typer
import kim_cli.main as m
m.app = typer.Typer()

@m.app.command()
def hold(marker: str):
    try:
        print("ready", flush=True)
        time.sleep(60)
    finally:
        open(marker, "w").write("cleaned up")

m.main()
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_runs_the_commands_clean_up(tmp_path, sig):
    marker = tmp_path / "marker"
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(marker)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        proc.send_signal(sig)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert marker.read_text() == "cleaned up"
    assert proc.returncode != 0
