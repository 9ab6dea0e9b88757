"""The compose topology run on the host, from the files compose uses (issue 21).

- docker-compose.yml is read and interpolated with a rehearsal .env (the Compose Specification's rules, as the
  static tests do); container addresses become 127.0.0.1 and fixed ports of one block (KIM_REHEARSAL_BASE_PORT).
- Kafka: the `kafka` service's KAFKA_* variables become server.properties the way the official image's wrapper
  renders them; the log dir is formatted with the admin SCRAM user (as deploy/kafka-init/broker-start.sh does) and
  the broker runs from the Maven-resolved jars of the local stack.
- deploy/kafka-init/kafka-init.sh runs for real with the `kafka-init` service's environment; the distribution's
  bin/kafka-*.sh are shims in tests/rehearsal/kafka-home/bin calling the same tool classes from the same jars.
- PostgreSQL: a private server (host connections need a password, scram-sha-256, as in the postgres image);
  deploy/postgres/init.sh runs against it with the `postgres` service's environment.
- Each service is installed as deploy/Dockerfile installs it (`uv sync --frozen --no-dev --no-editable --package
  kim-<service>`) into a venv of its own under .cache/rehearsal/venvs (kept between runs; uv makes it match the
  lock each time), and started from a folder outside the checkout with only the compose environment.

Everything listens on 127.0.0.1; every process is stopped by pid by `Rehearsal.down`.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from kim_cli import stack_kafka, stack_postgres
from kim_cli.partner_kafka import scram
from kim_cli.processes import ServiceProcess, stop_services, wait_ready
from kim_cli.stack_config import StackConfig
from kim_cli.stack_procs import is_alive, port_open, tail, terminate
from tests.unit.test_compose_file import environment, interpolate_tree, read_env_file

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


def _password() -> str:
    return secrets.token_hex(16)


def rehearsal_env(ports: Ports, files: dict[str, Path]) -> dict[str, str]:
    """.env as an operator fills it: .env.example, every secret a fresh password, partners, host files."""
    env = read_env_file(ROOT / ".env.example")
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", (ROOT / "docker-compose.yml").read_text()))
    for key in required:
        if not env.get(key):
            env[key] = _password()
    env["KIM_KAFKA_CLUSTER_ID"] = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode()[:22].replace("-", "a")
    env["KIM_AUTH_SECRET"] = secrets.token_hex(32)
    env["KIM_PSEUDONYM_SECRET"] = secrets.token_hex(32)
    env["KIM_PARTNERS"] = ",".join(f"{org}:{_password()}" for org in PARTNERS)
    env["KIM_KAFKA_EXTERNAL_HOST"] = "127.0.0.1"
    env["KIM_KAFKA_EXTERNAL_PORT"] = str(ports.external)
    env["KIM_KAFKA_PARTNER_HOST"] = "127.0.0.1"  # the name in the broker certificate (make-certs.sh)
    env["KIM_KAFKA_PARTNER_PORT"] = str(ports.partner)
    env["KIM_REFERRALS_PUBLIC_URL"] = f"http://127.0.0.1:{ports.http('referrals')}"  # partners fetch schemas there
    env["KIM_MASTER_KEY_HOST_FILE"] = str(files["master_key"])
    env["KIM_AUDIT_SIGNING_KEY_HOST_FILE"] = str(files["audit_key"])
    return env


def partner_passwords(env: dict[str, str]) -> dict[str, str]:
    return dict(entry.split(":", 1) for entry in env["KIM_PARTNERS"].split(","))


def broker_properties(kafka_env: dict[str, str]) -> dict[str, str]:
    """What the image's KafkaDockerWrapper writes: KAFKA_ dropped, lower case, '_' -> '.', '___' -> '-', '__' -> '_'."""
    props = {}
    for key, value in kafka_env.items():
        if key.startswith("KAFKA_") and key not in ("KAFKA_HEAP_OPTS", "KAFKA_HOME"):
            name = key.removeprefix("KAFKA_").lower().replace("_", ".").replace("...", "-").replace("..", "_")
            props[name] = value
    return props


def relocate(value: str, moves: dict[str, str]) -> str:
    for old, new in moves.items():
        value = value.replace(old, new)
    return value


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
        self.compose = interpolate_tree(yaml.safe_load((ROOT / "docker-compose.yml").read_text()), self.env)
        self.pids: dict[str, int] = {}
        self.services: dict[str, ServiceProcess] = {}
        self.seconds: dict[str, float] = {}
        self.pg_cfg = StackConfig(stack_dir=self.dir / "pg", postgres_port=self.ports.postgres,
                                  kafka_bootstrap="unused:1", postgres_url=None)
        self.libs = stack_kafka.ensure_jars(StackConfig())
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

    # -- Kafka -----------------------------------------------------------------------------------------------
    def kafka_properties(self) -> dict[str, str]:
        env = self.service_env("kafka")
        moves = {"CLIENT://:9092": f"CLIENT://127.0.0.1:{self.ports.kafka}",
                 "EXTERNAL://:9094": f"EXTERNAL://127.0.0.1:{self.ports.external}",
                 "PARTNER://:9095": f"PARTNER://127.0.0.1:{self.ports.partner}", "/etc/kafka/tls": str(self.tls),
                 "localhost:9093": f"127.0.0.1:{self.ports.controller}", "kafka:9092": self.bootstrap}
        props = {k: relocate(v, moves) for k, v in broker_properties(env).items()}
        props["log.dirs"] = str(self.dir / "kafka" / "data")
        return props | TIMING_ONLY

    @property
    def tls(self) -> Path:
        """KIM_KAFKA_TLS_DIR: the partner listener's keystore and the CA certificate partners get."""
        return self.dir / "kafka-tls"

    def make_certs(self) -> None:
        """As ops do it (deploy/README.md, "TLS for partners"): deploy/kafka-tls/make-certs.sh for the partner host."""
        out = subprocess.run(["bash", str(ROOT / "deploy" / "kafka-tls" / "make-certs.sh"), str(self.tls),
                              self.env["KIM_KAFKA_PARTNER_HOST"]], capture_output=True, text=True, timeout=120,
                             env=os.environ | {"KIM_KAFKA_TLS_KEYSTORE_PASSWORD": self.env["KIM_KAFKA_TLS_KEYSTORE_PASSWORD"]})
        assert out.returncode == 0, f"make-certs.sh failed:\n{out.stdout}\n{out.stderr}"

    @property
    def partner_bootstrap(self) -> str:
        return f"{self.env['KIM_KAFKA_PARTNER_HOST']}:{self.ports.partner}"

    def start_kafka(self) -> None:
        self.make_certs()
        props = self.kafka_properties()
        home = self.dir / "kafka"
        home.mkdir()
        config = home / "server.properties"
        config.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        config.chmod(0o600)
        env = self.service_env("kafka")
        user, password = env["KIM_KAFKA_ADMIN_USER"], env["KIM_KAFKA_ADMIN_PASSWORD"]
        java = [shutil.which("java"), *stack_kafka.JVM_OPTS,
                f"-Dlog4j2.configurationFile={ROOT / 'deploy' / 'kafka' / 'log4j2.xml'}",
                f"-Dkafka.logs.dir={self.logs / 'kafka'}", "-cp", f"{self.libs}/*"]
        # as broker-start.sh: format the log dir with the admin SCRAM user, then start
        out = subprocess.run([*java, "kafka.tools.StorageTool", "format", "--ignore-formatted", "--cluster-id",
                              env["CLUSTER_ID"], "--config", str(config), "--add-scram",
                              f"SCRAM-SHA-512=[name={user},password={password}]"],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, f"formatting the Kafka log dir failed:\n{out.stdout}\n{out.stderr}"
        with open(self.logs / "kafka.out", "ab") as log:
            proc = subprocess.Popen([*java, "kafka.Kafka", str(config)], stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        self.pids["kafka"] = proc.pid
        self._kafka_started = time.monotonic()

    def admin_options(self) -> dict:
        env = self.service_env("kafka")
        return scram(env["KIM_KAFKA_ADMIN_USER"], env["KIM_KAFKA_ADMIN_PASSWORD"])

    def wait_kafka(self, timeout_s: float = 120) -> None:
        from aiokafka import AIOKafkaClient

        async def answers() -> bool:
            client = AIOKafkaClient(bootstrap_servers=self.bootstrap, request_timeout_ms=3000,
                                    **self.admin_options())
            try:
                await asyncio.wait_for(client.bootstrap(), 5)
                return bool(client.cluster.brokers())
            except Exception:  # noqa: BLE001 - not yet
                return False
            finally:
                await client.close()

        deadline = time.monotonic() + timeout_s
        while not (port_open(self.ports.kafka) and asyncio.run(answers())):
            assert is_alive(self.pids["kafka"]), f"Kafka exited:\n{tail(self.logs / 'kafka.out')}"
            assert time.monotonic() < deadline, f"Kafka did not answer:\n{tail(self.logs / 'kafka' / 'server.log')}"
            time.sleep(0.3)
        self.seconds["kafka ready"] = time.monotonic() - self._kafka_started

    def tools_archive(self) -> Path:
        """A class-data sharing archive of the admin tools' classes, made once per set of jars (kept in .cache):
        each of kafka-init's ~35 tool runs then starts with about half the CPU (the build machines have 2 cores)."""
        import hashlib

        stamp = hashlib.sha256("\n".join(sorted(p.name for p in self.libs.glob("*.jar"))).encode()).hexdigest()[:12]
        archive = self.cache / f"kafka-tools-{stamp}.jsa"
        if archive.exists():
            return archive
        bin_dir, lists = HERE / "kafka-home" / "bin", []
        admin = self.dir / "admin.properties"
        env = self.service_env("kafka")
        admin.write_text("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-512\nsasl.jaas.config=org.apache."
                         f"kafka.common.security.scram.ScramLoginModule required username=\"{env['KIM_KAFKA_ADMIN_USER']}\""
                         f" password=\"{env['KIM_KAFKA_ADMIN_PASSWORD']}\";\n")
        common = ["--bootstrap-server", self.bootstrap, "--command-config", str(admin)]
        for tool, args in (("kafka-topics.sh", ["--list"]), ("kafka-acls.sh", ["--list"]),
                           ("kafka-configs.sh", ["--describe", "--entity-type", "users"])):
            lists.append(self.dir / f"{tool}.classes")
            subprocess.run([str(bin_dir / tool), *common, *args], capture_output=True, timeout=120,
                           env=os.environ | {"KIM_KAFKA_LIBS": str(self.libs), "KIM_TOOLS_CLASS_LIST": str(lists[-1])})
        merged = self.dir / "tools.classes"
        merged.write_text("".join(sorted({line for f in lists if f.exists() for line in f.read_text().splitlines(True)
                                          if not line.startswith("@")})))
        scratch = archive.with_suffix(f".{os.getpid()}.tmp")
        out = subprocess.run([shutil.which("java"), "-Xshare:dump", "-XX:+UseSerialGC",
                              f"-XX:SharedClassListFile={merged}", f"-XX:SharedArchiveFile={scratch}",
                              "-cp", f"{self.libs}/*"], capture_output=True, text=True, timeout=300)
        if out.returncode == 0 and scratch.exists():
            os.replace(scratch, archive)
        else:  # no archive: the tools just start slower
            scratch.unlink(missing_ok=True)
        return archive

    def run_kafka_init(self) -> None:
        env = self.service_env("kafka-init") | {
            "PATH": os.environ["PATH"], "HOME": str(self.work), "KAFKA_BIN": str(HERE / "kafka-home" / "bin"),
            "KIM_KAFKA_LIBS": str(self.libs), "KIM_TOOLS_CDS_ARCHIVE": str(self.tools_archive())}
        env["KIM_KAFKA_BOOTSTRAP"] = relocate(env["KIM_KAFKA_BOOTSTRAP"], self._moves())
        out = subprocess.run(["bash", str(ROOT / "deploy" / "kafka-init" / "kafka-init.sh")], env=env,
                             capture_output=True, text=True, timeout=400)
        (self.logs / "kafka-init.log").write_text(out.stdout + out.stderr)
        assert out.returncode == 0, f"kafka-init.sh failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
        self.kafka_init_output = out.stdout + out.stderr

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
