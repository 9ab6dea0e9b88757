"""`kim run` as a user runs it: a private stack (the broker as production runs it: SASL/SCRAM, ACLs, a SASL_SSL
partner listener), the four services, a small demo; URLs and tokens printed; a partner onboarded against it with the
printed settings; SIGINT stops everything it started; a second run reuses the data (no second seed)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import asyncio
import json
import ssl

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from kim_cli.stack_procs import is_alive, terminate

from tests.ports import free_block, free_port

REPO = Path(__file__).resolve().parents[2]
KIM = str(Path(sys.executable).with_name("kim"))
ROLES = ("case manager", "team lead", "partner", "auditor", "admin")
CLIENTS = 20


class Run:
    """`kim run` in the background; its output collected line by line."""

    def __init__(self, env: dict[str, str]):
        self.lines: list[str] = []
        self.proc = subprocess.Popen([KIM, "run"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, start_new_session=True)
        threading.Thread(target=self._collect, daemon=True).start()

    def _collect(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, marker: str, timeout_s: float = 600) -> str:
        deadline = time.monotonic() + timeout_s
        while marker not in self.text:
            assert self.proc.poll() is None, f"kim run exited with {self.proc.returncode}:\n{self.text}"
            assert time.monotonic() < deadline, f"no {marker!r} within {timeout_s} s:\n{self.text}"
            time.sleep(0.2)
        return self.text

    def pids(self) -> list[int]:
        return [int(p) for p in re.findall(r"started \(pid (\d+)\)", self.text)]

    def interrupt(self) -> int:
        os.kill(self.proc.pid, signal.SIGINT)
        return self.proc.wait(timeout=120)


def free_base_port() -> int:
    return free_block(5)


def token(text: str, role: str) -> str:
    return re.search(rf"^  {role} +\(.*\)\n    (\S+)$", text, re.M).group(1)


@pytest.fixture
def run_env():
    stack_dir = REPO / ".cache" / "test-stacks" / f"kim-run-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if k not in ("KIM_KAFKA_BOOTSTRAP", "KIM_POSTGRES_URL")}
    env |= {"KIM_STACK_DIR": str(stack_dir), "KIM_KAFKA_PORT": str(free_port()),
            "KIM_KAFKA_CONTROLLER_PORT": str(free_port()), "KIM_POSTGRES_PORT": str(free_port()),
            "KIM_KAFKA_EXTERNAL_PORT": str(free_port()), "KIM_KAFKA_PARTNER_PORT": str(free_port()),
            "KIM_RUN_BASE_PORT": str(free_base_port()), "KIM_DEMO_CLIENTS": str(CLIENTS)}
    started: list[int] = []
    try:
        yield env, started
    finally:
        terminate([p for p in started if is_alive(p)])  # only if the test failed half-way
        shutil.rmtree(stack_dir, ignore_errors=True)


def env_file(text: str) -> dict[str, str]:
    path = re.search(r"^  set -a; \. (\S+); set \+a$", text, re.M).group(1)
    assert os.stat(path).st_mode & 0o077 == 0, "the admin's settings are private"
    return dict(line.split("=", 1) for line in Path(path).read_text().splitlines() if line)


async def topics_seen(bootstrap: str, **options) -> set[str]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, request_timeout_ms=10_000, **options)
    try:
        await consumer.start()
        return await consumer.topics()
    finally:
        await consumer.stop()


def onboard_a_partner(env: dict[str, str], text: str) -> None:
    """As the banner says: `kim partner onboard` with partner-admin.env; the sheet's login works over SASL_SSL and
    shows the partner its own topic only; a client without a login is refused."""
    assert "SASL/SCRAM-SHA-512, ACLs (deny by default)" in text
    admin = env_file(text)
    out = subprocess.run([KIM, "partner", "onboard", "awo-kreis-unna", "--name", "AWO Unna", "--kind",
                          "wohlfahrtsverband", "--json"], env=env | admin, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    sheet = json.loads(out.stdout)
    assert (sheet["security_protocol"], sheet["kafka_bootstrap"]) == (
        "SASL_SSL", f"127.0.0.1:{env['KIM_KAFKA_PARTNER_PORT']}")
    context = ssl.create_default_context(cadata=sheet["ca_certificate"])
    seen = asyncio.run(topics_seen(sheet["kafka_bootstrap"], security_protocol="SASL_SSL", ssl_context=context,
                                   sasl_mechanism="SCRAM-SHA-512", sasl_plain_username=sheet["kafka_user"],
                                   sasl_plain_password=sheet["kafka_password"]))
    assert seen == {"kim.partner.awo-kreis-unna"}
    with pytest.raises(Exception):  # noqa: B017 - no SASL handshake: the broker drops the connection
        asyncio.run(asyncio.wait_for(topics_seen(admin["KIM_KAFKA_BOOTSTRAP"]), 30))


@pytest.mark.timeout(900)  # two runs, each starting Kafka and PostgreSQL, on a machine that may be busy
def test_kim_run_serves_the_demo_and_stops_everything_on_sigint(run_env):
    env, started = run_env
    base = int(env["KIM_RUN_BASE_PORT"])
    first = Run(env)
    text = first.wait_for("\nLogs: ")
    started += first.pids()
    urls = {name: f"http://127.0.0.1:{base + i}" for i, name in enumerate(("cases", "staffing", "referrals",
                                                                           "reporting"))}
    for url in urls.values():
        assert f"{url}/docs" in text
    assert f"{urls['reporting']}/dashboard" in text and f"-t kim.partner.jobcenter-kreis-unna" in text
    admin = {"Authorization": f"Bearer {token(text, 'admin')}"}
    for role in ROLES:
        assert token(text, role).count(".") == 2, role
    assert len(started) == 7, text  # Kafka, PostgreSQL, the four services and the web app
    web = f"http://127.0.0.1:{base + 4}"
    assert web in text
    with httpx.Client(base_url=web) as browser:  # the dev sign-in: a demo role, no token to paste
        assert "Als Fallmanagement Lünen anmelden" in browser.get("/anmelden").text
        signed = browser.post("/anmelden", data={"csrf": browser.cookies["kim_csrf"], "demo": "0"})
        assert signed.status_code == 303 and "Arbeitsliste" in browser.get("/").text
    assert len(httpx.get(f"{urls['cases']}/cases?limit=1000", headers=admin).json()) == CLIENTS
    cells = httpx.get(f"{urls['reporting']}/indicators?period=year", headers=admin).json()["cells"]
    assert any(c["indicator"] == "vza_filled_at_end" and c["value"] for c in cells)
    assert httpx.get(f"{urls['reporting']}/dashboard").status_code == 200
    # the demo's stores and topics agree: no event missing, extra, repeated or out of order (the suite's own events
    # live on another stack, so they never show up here)
    audit = subprocess.run([KIM, "audit", "verify"], env=env, capture_output=True, text=True, timeout=600)
    assert audit.returncode == 0, audit.stdout + audit.stderr

    onboard_a_partner(env, text)

    assert first.interrupt() == 0, first.text
    assert not [p for p in started if is_alive(p)], first.text

    second = Run(env)
    text = second.wait_for("\nLogs: ")
    started += second.pids()
    assert "not seeded again" in text
    admin = {"Authorization": f"Bearer {token(text, 'admin')}"}
    assert len(httpx.get(f"{urls['cases']}/cases?limit=1000", headers=admin).json()) == CLIENTS
    assert second.interrupt() == 0, second.text
    assert not [p for p in started if is_alive(p)], second.text
