"""`kim bench latency` as a user runs it, briefly and at a low rate, on a private stack it starts (and stops) itself:
the table and the last JSON line have their shape and commands were accepted. No timing is asserted."""

from __future__ import annotations

import json
import subprocess

import pytest

from kim_cli.stack_procs import is_alive

from .test_run_command import KIM, run_env  # noqa: F401 (the fixture: a private stack dir and free ports)

VIEWS = ("reporting", "staffing", "partner")


@pytest.mark.timeout(900)  # Kafka and PostgreSQL start first, on a machine that may be busy
def test_kim_bench_latency_prints_a_table_and_a_json_line(run_env):  # noqa: F811
    env, _ = run_env
    done = subprocess.run([KIM, "bench", "latency", "--rates", "5,10", "--seconds", "3", "--warmup", "1",
                           "--idle-seconds", "1", "--ratio-seconds", "1"], env=env, capture_output=True, text=True,
                          timeout=800)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    result = json.loads(lines[-1])
    assert result["benchmark"] == "latency" and result["rates"] == [5, 10]
    assert [s["rate"] for s in result["steps"]] == [5, 10]
    for step in result["steps"]:
        assert step["sent"] == step["rate"] * 3
        assert step["accepted"] > 0 and set(step["commands"]) <= {"client", "case", "consent", "assessment",
                                                                   "referral", "closure"}
        assert set(step["http_ms"]) == {"p50", "p90", "p99"}
        assert set(step["visible_ms"]) == set(VIEWS)
        assert {"cases", "staffing", "referrals", "reporting", "kafka", "postgres"} <= set(step["cpu_percent"])
        assert step["unanswered"] == 0 and step["bench_cpu_percent"] >= 0
        for view in VIEWS:
            assert set(step["visible_ms"][view]) == {"p50", "p99", "count", "missing"}
    assert sum(s["commands"].get("case", 0) for s in result["steps"]) > 0
    assert {"cases", "staffing", "referrals", "reporting", "kafka", "postgres"} <= set(result["idle_cpu_percent"])
    assert result["write_path"]["kim"]["per_s"] > 0 and result["write_path"]["minimal_fastapi_asyncpg"]["per_s"] > 0
    table = "\n".join(lines[:-1])
    assert "http p50" in table and "reporting p50/p99" in table and "partner p50/p99" in table
    assert "idle CPU over" in table and "CPU at 10 cmd/s" in table and "minimal FastAPI + asyncpg" in table
    for rate in (5, 10):
        assert any(line.split()[:1] == [str(rate)] for line in lines[:-1]), table
    pids = [int(w.split(")")[0]) for w in done.stdout.split("(pid ")[1:]]
    assert pids and not any(is_alive(p) for p in pids), "a service the benchmark started still runs"
