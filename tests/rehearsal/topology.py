"""The compose topology run on the host, from the files compose uses (issue 21).

- docker-compose.yml is read and interpolated with a rehearsal .env (the Compose Specification's rules, as the
  static tests do); container addresses become 127.0.0.1 and fixed ports of one block (KIM_REHEARSAL_BASE_PORT).
- Kafka: kim_cli.secure_kafka, the same code `kim run` starts its broker with: the `kafka` service's settings as
  server.properties, the log dir formatted with the admin SCRAM user, the partner listener's certificates from
  deploy/kafka-tls/make-certs.sh, and deploy/kafka-init/kafka-init.sh run for real (through the shims in
  deploy/kafka-init/host/kafka-home/bin).
- PostgreSQL: a private server (host connections need a password, scram-sha-256, as in the postgres image);
  deploy/postgres/init.sh runs against it with the `postgres` service's environment.
- Each service is installed as deploy/Dockerfile installs it (`uv sync --frozen --no-dev --no-editable --package
  kim-<service>`) into a venv of its own under .cache/rehearsal/venvs (kept between runs; uv makes it match the
  lock each time), and started from a folder outside the checkout with only the compose environment.

Everything listens on 127.0.0.1; every process is stopped by pid by `Rehearsal.down`.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from kim_cli import secure_kafka, stack_kafka, stack_postgres
from kim_cli.compose_file import environment
from kim_cli.processes import ServiceProcess, stop_services, wait_ready
from kim_cli.secure_kafka import relocate
from kim_cli.stack_config import StackConfig
from kim_cli.stack_procs import port_open, terminate

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SERVICES = ("cases", "staffing", "referrals", "reporting")
# partners named in KIM_PARTNERS (kafka-init makes their users and topics); LATE is registered afterwards only
PARTNERS = ("jobcenter-kreis-unna", "caritas-unna")
LATE_PARTNER = "diakonie-luenen"
DEFAULT_BASE_PORT = 28192  # below the ephemeral range: no outgoing connection takes one of them
# Not compose settings: timing on a small test machine only (fewer internal partitions, no rebalance delay).
TIMING_ONLY = {"offsets.topic.num.partitions": "3", "group.initial.rebalance.delay.ms": "0",
               "num.network.threads": "2", "num.io.threads": "4"}
# connections.max.reauth.ms (KIM_KAFKA_REAUTH_MS): compose's default is an hour; 10 s here, so a rotated partner's
# open connection is seen cut within seconds (test_partner_flow.py)
REAUTH_MS = 10_000
UV = ROOT / ".cache" / "bootstrap" / "bin" / "uv"


def base_port() -> int:
    return int(os.environ.get("KIM_REHEARSAL_BASE_PORT", DEFAULT_BASE_PORT))


@dataclass
class Ports:
    base: int

    @property
    def kafka(self) -> int:  # the CLIENT listener (services, tools)
        return self.base

    @property
    def external(self) -> int:  # the EXTERNAL listener (partners)
        return self.base + 1

    @property
    def controller(self) -> int:
        return self.base + 2

    @property
    def postgres(self) -> int:
        return self.base + 3

    def http(self, service: str) -> int:
        return self.base + 4 + SERVICES.index(service)

    @property
    def partner(self) -> int:  # the PARTNER listener (partners, SASL_SSL)
        return self.base + 8

    def all(self) -> list[int]:
        return list(range(self.base, self.base + 9))


def rehearsal_env(ports: Ports, files: dict[str, Path]) -> dict[str, str]:
    """.env as an operator fills it (secure_kafka.fresh_env), with the partners and the host files of the rehearsal."""
    env = secure_kafka.fresh_env(ROOT, external_port=ports.external, partner_port=ports.partner,
                                 partners={org: secrets.token_hex(16) for org in PARTNERS})
    env["KIM_KAFKA_REAUTH_MS"] = str(REAUTH_MS)
    env["KIM_REFERRALS_PUBLIC_URL"] = f"http://127.0.0.1:{ports.http('referrals')}"  # partners fetch schemas there
    env["KIM_MASTER_KEY_HOST_FILE"] = str(files["master_key"])
    env["KIM_AUDIT_SIGNING_KEY_HOST_FILE"] = str(files["audit_key"])
    return env


def partner_passwords(env: dict[str, str]) -> dict[str, str]:
    return dict(entry.split(":", 1) for entry in env["KIM_PARTNERS"].split(","))


@dataclass
class Rehearsal:
    ports: Ports = field(default_factory=lambda: Ports(base_port()))

    def __post_init__(self) -> None:
        self.cache = ROOT / ".cache" / "rehearsal"
        self.cache.mkdir(parents=True, exist_ok=True)
        self.dir = Path(tempfile.mkdtemp(prefix="run-", dir=self.cache))
        self.dir.chmod(0o755)  # the PostgreSQL system user must traverse it
        self.logs = self.dir / "logs"
        self.logs.mkdir()
        self.work = Path(tempfile.mkdtemp(prefix="kim-rehearsal-"))  # the services' cwd: outside the checkout
        files = {"master_key": self.dir / "kim-master.key", "audit_key": self.dir / "kim-audit.key"}
        self.env = rehearsal_env(self.ports, files)
        self.libs = stack_kafka.ensure_jars(StackConfig())
        self.kafka = secure_kafka.SecureKafka(
            repo_root=ROOT, home=self.dir / "kafka", env=self.env, client_port=self.ports.kafka,
            external_port=self.ports.external, partner_port=self.ports.partner, controller_port=self.ports.controller,
            libs=self.libs, extra_properties=TIMING_ONLY, tools_cache=self.cache, logs=self.logs)
        self.compose = self.kafka.compose
        self.pids: dict[str, int] = {}
        self.services: dict[str, ServiceProcess] = {}
        self.seconds: dict[str, float] = {}
        self.pg_cfg = StackConfig(stack_dir=self.dir / "pg", postgres_port=self.ports.postgres,
                                  kafka_bootstrap="unused:1", postgres_url=None)
        self.secret_files = files

    # -- addresses -------------------------------------------------------------------------------------------
    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.ports.kafka}"

    @property
    def external_bootstrap(self) -> str:
        return f"127.0.0.1:{self.ports.external}"

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.ports.postgres}/postgres"

    def admin_url_of(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.ports.postgres}/{database}"

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports.http(service)}"

    def service_env(self, name: str) -> dict[str, str]:
        return environment(self.compose["services"][name])

    def _moves(self) -> dict[str, str]:
        moves = {"kafka:9092": self.bootstrap, "@postgres:5432/": f"@127.0.0.1:{self.ports.postgres}/",
                 "http://cases:8001": self.url("cases"),
                 "/var/lib/kim/anchors": str(self.dir / "anchors")}
        for name, spec in self.compose["secrets"].items():
            moves[f"/run/secrets/{name}"] = spec["file"]
        return moves

    # -- the whole topology ----------------------------------------------------------------------------------
    def up(self) -> None:
        taken = [p for p in self.ports.all() if port_open(p)]
        assert not taken, (f"ports {taken} of the rehearsal block are taken; set KIM_REHEARSAL_BASE_PORT to the first "
                           f"of 9 free ports")
        self._write_secret_files()
        t0 = time.monotonic()
        self.start_postgres()
        self.start_kafka()
        self.install_services()  # while the broker starts
        self.wait_kafka()
        self.timed("postgres init.sh", self.run_postgres_init)
        self.timed("kafka-init.sh", self.run_kafka_init)
        self.timed("services ready", self.start_services)
        self.seconds["up"] = time.monotonic() - t0

    def timed(self, what: str, fn) -> None:
        t0 = time.monotonic()
        fn()
        self.seconds[what] = time.monotonic() - t0

    def down(self) -> None:
        stop_services(list(self.services.values()))
        terminate(list(self.pids.values()))
        self.pids.clear()
        shutil.rmtree(self.work, ignore_errors=True)
        if os.environ.get("KIM_REHEARSAL_KEEP") != "1":
            shutil.rmtree(stack_postgres.paths(self.pg_cfg)["data"].parent, ignore_errors=True)
            shutil.rmtree(self.dir, ignore_errors=True)

    def _write_secret_files(self) -> None:
        from kim_cases.adapters.keyring import generate
        from kim_runtime.anchor import Signer

        self.secret_files["master_key"].write_text(generate("kek-rehearsal").entry() + "\n")
        self.secret_files["audit_key"].write_text(Signer.generate()[1] + "\n")
        for path in self.secret_files.values():
            path.chmod(0o600)

    # -- PostgreSQL ------------------------------------------------------------------------------------------
    def start_postgres(self) -> None:
        stack_postgres.init_data(self.pg_cfg)
        hba = stack_postgres.paths(self.pg_cfg)["data"] / "pg_hba.conf"
        # as the postgres image: every host connection needs its password; the test's own admin is trusted
        hba.write_text("host all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n")
        self.pids["postgres"] = pid = stack_postgres.start(self.pg_cfg)
        asyncio.run(stack_postgres.wait_ready(self.pg_cfg, pid))

    def run_postgres_init(self) -> None:
        env = {k: v for k, v in self.service_env("postgres").items()} | {
            "PATH": f"{stack_postgres.bin_dir()}:{os.environ['PATH']}", "PGHOST": "127.0.0.1",
            "PGPORT": str(self.ports.postgres), "HOME": str(self.work)}
        out = subprocess.run(["bash", str(ROOT / "deploy" / "postgres" / "init.sh")], env=env, capture_output=True,
                             text=True, timeout=120)
        (self.logs / "postgres-init.log").write_text(out.stdout + out.stderr)
        assert out.returncode == 0, f"init.sh failed:\n{out.stdout}\n{out.stderr}"

    # -- Kafka (kim_cli.secure_kafka) ---------------------------------------------------------------------------
    def kafka_properties(self) -> dict[str, str]:
        return self.kafka.properties()

    @property
    def tls(self) -> Path:
        return self.kafka.tls

    @property
    def partner_bootstrap(self) -> str:
        return self.kafka.partner_bootstrap

    def start_kafka(self) -> None:
        self.pids["kafka"] = self.kafka.start()
        self._kafka_started = time.monotonic()

    def admin_options(self) -> dict:
        return self.kafka.admin_options()

    def wait_kafka(self, timeout_s: float = 120) -> None:
        self.kafka.wait_ready(self.pids["kafka"], timeout_s)
        self.seconds["kafka ready"] = time.monotonic() - self._kafka_started

    def run_kafka_init(self, extra_env: dict[str, str] | None = None) -> str:
        self.kafka_init_output = self.kafka.run_kafka_init(self.logs / "kafka-init.log", extra_env)
        return self.kafka_init_output

    # -- the services ----------------------------------------------------------------------------------------
    def venv(self, service: str) -> Path:
        return self.cache / "venvs" / service

    def install_services(self) -> None:
        t0 = time.monotonic()
        for s in SERVICES:
            env = os.environ | {"UV_PROJECT_ENVIRONMENT": str(self.venv(s)), "UV_CACHE_DIR": str(ROOT / ".cache" / "uv"),
                                "UV_PYTHON_DOWNLOADS": "never", "UV_PYTHON": os.path.realpath(sys.executable)}
            env.pop("VIRTUAL_ENV", None)
            out = subprocess.run([str(UV), "sync", "--frozen", "--no-dev", "--no-editable", "--package", f"kim-{s}",
                                  "--quiet"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
            assert out.returncode == 0, f"uv sync for {s} failed:\n{out.stdout}\n{out.stderr}"
        self.seconds["install (uv sync x4)"] = time.monotonic() - t0

    def compose_service_env(self, service: str) -> dict[str, str]:
        env = {k: relocate(v, self._moves()) for k, v in self.service_env(service).items()}
        env["KIM_HTTP_HOST"] = "127.0.0.1"
        env["KIM_HTTP_PORT"] = str(self.ports.http(service))
        return env

    def start_services(self) -> None:
        (self.dir / "anchors").mkdir(exist_ok=True)
        for s in SERVICES:
            env = self.compose_service_env(s) | {
                "PATH": f"{self.venv(s) / 'bin'}:/usr/local/bin:/usr/bin:/bin", "HOME": str(self.work),
                "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"}
            log_path = self.logs / f"{s}.log"
            with open(log_path, "ab") as log:
                popen = subprocess.Popen([str(self.venv(s) / "bin" / "python"), "-m", f"kim_{s}"], cwd=self.work,
                                         env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
            self.services[s] = ServiceProcess(s, self.ports.http(s), popen, log_path)
        wait_ready(list(self.services.values()), timeout_s=120)
