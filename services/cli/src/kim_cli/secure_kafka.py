"""The broker production runs, on this host: compose's `kafka` service with SASL (SCRAM-SHA-512), ACLs (the
StandardAuthorizer, deny by default) and the partners' SASL_SSL listener, set up by deploy/kafka-init/kafka-init.sh.

Used by `kim run` (the secure local stack, kim_cli.stack) and by the rehearsal tier (tests/rehearsal/topology.py):

- docker-compose.yml is read and interpolated with a .env (kim_cli.compose_file); the `kafka` service's KAFKA_*
  variables become server.properties the way the official image's wrapper renders them, container addresses
  become 127.0.0.1 and the ports given here;
- the log dir is formatted with the admin SCRAM user (as deploy/kafka-init/broker-start.sh does) and the broker runs
  from the Maven-resolved jars of the local stack (kim_cli.stack_kafka.ensure_jars);
- the partner listener's keystore and CA come from deploy/kafka-tls/make-certs.sh, as ops make them;
- deploy/kafka-init/kafka-init.sh runs for real with the `kafka-init` service's environment; the distribution's
  bin/kafka-*.sh are the shims in deploy/kafka-init/host/kafka-home/bin calling the same tool classes from the same
  jars.

Everything listens on 127.0.0.1; the caller stops the broker by its pid.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import re
import secrets
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from kim_cli import compose_file
from kim_cli.stack_config import StackError
from kim_cli.stack_kafka import JVM_OPTS
from kim_cli.stack_procs import is_alive, port_open, tail

SERVICES = ("cases", "staffing", "referrals", "reporting")
MECHANISM = "SCRAM-SHA-512"
# How long a SASL session lasts before the client must log in again (KIP-368). The broker closes a connection that
# does not re-authenticate in time, so a rotated partner's open consumer stops being served within this interval.
# Production (compose) value; tests set it smaller through KIM_KAFKA_REAUTH_MS.
REAUTH_MS_DEFAULT = 3_600_000


def host_kafka_home(repo_root: Path) -> Path:
    """The stand-in for the Kafka distribution's home (bin/kafka-*.sh) on a host without one."""
    return repo_root / "deploy" / "kafka-init" / "host" / "kafka-home"


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


def _password() -> str:
    return secrets.token_hex(16)


def fresh_env(repo_root: Path, *, external_port: int, partner_port: int, partners: dict[str, str] | None = None,
              host: str = "127.0.0.1") -> dict[str, str]:
    """.env as an operator fills it: .env.example, every required secret a fresh password, the partners named in
    KIM_PARTNERS ({org: password}), the host's listener addresses."""
    env = compose_file.read_env_file(repo_root / ".env.example")
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", (repo_root / "docker-compose.yml").read_text()))
    for key in required:
        if not env.get(key):
            env[key] = _password()
    env["KIM_KAFKA_CLUSTER_ID"] = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode()[:22].replace("-", "a")
    env["KIM_AUTH_SECRET"] = secrets.token_hex(32)
    env["KIM_PSEUDONYM_SECRET"] = secrets.token_hex(32)
    env["KIM_PARTNERS"] = ",".join(f"{org}:{pw}" for org, pw in (partners or {}).items())
    env["KIM_KAFKA_EXTERNAL_HOST"] = host
    env["KIM_KAFKA_EXTERNAL_PORT"] = str(external_port)
    env["KIM_KAFKA_PARTNER_HOST"] = host  # the name in the broker certificate (make-certs.sh)
    env["KIM_KAFKA_PARTNER_PORT"] = str(partner_port)
    return env


def scram_options(user: str, password: str) -> dict:
    return {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": MECHANISM, "sasl_plain_username": user,
            "sasl_plain_password": password}


@dataclass
class SecureKafka:
    """One broker (KRaft, broker and controller) in `home`, configured from compose with `env` (a .env)."""

    repo_root: Path
    home: Path
    env: dict[str, str]
    client_port: int  # CLIENT: services and tools (SASL_PLAINTEXT)
    external_port: int  # EXTERNAL: partners without TLS, local only (SASL_PLAINTEXT)
    partner_port: int  # PARTNER: partners (SASL_SSL)
    controller_port: int
    libs: Path
    extra_properties: dict[str, str] = field(default_factory=dict)  # e.g. timing on a small machine
    tools_cache: Path | None = None  # where the admin tools' class-data archive is kept between runs
    logs: Path | None = None

    def __post_init__(self) -> None:
        self.logs = self.logs or self.home / "logs"
        self.compose = compose_file.load(self.repo_root / "docker-compose.yml", self.env)

    # -- addresses and settings ----------------------------------------------------------------------------
    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.client_port}"

    @property
    def external_bootstrap(self) -> str:
        return f"127.0.0.1:{self.external_port}"

    @property
    def partner_bootstrap(self) -> str:
        return f"{self.env['KIM_KAFKA_PARTNER_HOST']}:{self.partner_port}"

    @property
    def tls(self) -> Path:
        """KIM_KAFKA_TLS_DIR: the partner listener's keystore and the CA certificate partners get (ca.pem)."""
        return self.home / "tls"

    @property
    def ca_file(self) -> Path:
        return self.tls / "ca.pem"

    @property
    def config(self) -> Path:
        return self.home / "server.properties"

    def ports(self) -> list[int]:
        return [self.client_port, self.external_port, self.partner_port, self.controller_port]

    def service_env(self, name: str) -> dict[str, str]:
        return compose_file.environment(self.compose["services"][name])

    @property
    def admin_user(self) -> str:
        return self.service_env("kafka")["KIM_KAFKA_ADMIN_USER"]

    @property
    def admin_password(self) -> str:
        return self.service_env("kafka")["KIM_KAFKA_ADMIN_PASSWORD"]

    def admin_options(self) -> dict:
        return scram_options(self.admin_user, self.admin_password)

    def service_kafka_env(self, service: str) -> dict[str, str]:
        """The Kafka settings compose gives a service: protocol, mechanism, its own SCRAM user and password."""
        env = self.service_env(service)
        return {k: v for k, v in env.items() if k in ("KIM_KAFKA_SECURITY_PROTOCOL", "KIM_KAFKA_SASL_MECHANISM",
                                                     "KIM_KAFKA_SASL_USERNAME", "KIM_KAFKA_SASL_PASSWORD")}

    def properties(self) -> dict[str, str]:
        moves = {"CLIENT://:9092": f"CLIENT://127.0.0.1:{self.client_port}",
                 "EXTERNAL://:9094": f"EXTERNAL://127.0.0.1:{self.external_port}",
                 "PARTNER://:9095": f"PARTNER://127.0.0.1:{self.partner_port}", "/etc/kafka/tls": str(self.tls),
                 "localhost:9093": f"127.0.0.1:{self.controller_port}", "kafka:9092": self.bootstrap}
        props = {k: relocate(v, moves) for k, v in broker_properties(self.service_env("kafka")).items()}
        props["log.dirs"] = str(self.home / "data")
        return props | self.extra_properties

    # -- start -------------------------------------------------------------------------------------------------
    def make_certs(self) -> None:
        """As ops do it (deploy/README.md, "TLS for partners"): deploy/kafka-tls/make-certs.sh for the partner host."""
        out = subprocess.run(["bash", str(self.repo_root / "deploy" / "kafka-tls" / "make-certs.sh"), str(self.tls),
                              self.env["KIM_KAFKA_PARTNER_HOST"]], capture_output=True, text=True, timeout=120,
                             env=os.environ | {"KIM_KAFKA_TLS_KEYSTORE_PASSWORD": self.env["KIM_KAFKA_TLS_KEYSTORE_PASSWORD"]})
        if out.returncode != 0:
            raise StackError(f"make-certs.sh failed:\n{out.stdout}\n{out.stderr}")

    def _java(self) -> list[str]:
        java = shutil.which("java")
        if java is None:
            raise StackError("`java` not found on PATH: install a Java 17+ runtime")
        return [java, *JVM_OPTS, f"-Dlog4j2.configurationFile={self.repo_root / 'deploy' / 'kafka' / 'log4j2.xml'}",
                f"-Dkafka.logs.dir={self.logs / 'kafka'}", "-cp", f"{self.libs}/*"]

    @property
    def formatted(self) -> bool:
        return (self.home / "data" / "meta.properties").exists()

    def start(self) -> int:
        """Certificates (first time), server.properties, the log dir formatted with the admin user (first time);
        then the broker in its own session. Returns its pid."""
        taken = [p for p in self.ports() if port_open(p)]
        if taken:
            raise StackError(f"port(s) {taken} of the secure broker are taken: stop what listens there or choose "
                             "other ports")
        self.home.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        if not (self.tls / "broker.p12").exists():
            self.make_certs()
        self.config.write_text("".join(f"{k}={v}\n" for k, v in self.properties().items()))
        self.config.chmod(0o600)
        kafka = self.service_env("kafka")
        if not self.formatted:  # as broker-start.sh: format the log dir with the admin SCRAM user
            out = subprocess.run([*self._java(), "kafka.tools.StorageTool", "format", "--ignore-formatted",
                                  "--cluster-id", kafka["CLUSTER_ID"], "--config", str(self.config), "--add-scram",
                                  f"{MECHANISM}=[name={self.admin_user},password={self.admin_password}]"],
                                 capture_output=True, text=True, timeout=120)
            if out.returncode != 0:
                raise StackError(f"formatting the Kafka log dir failed:\n{out.stdout}\n{out.stderr}")
        with open(self.logs / "kafka.out", "ab") as log:
            proc = subprocess.Popen([*self._java(), "kafka.Kafka", str(self.config)], stdout=log,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        return proc.pid

    async def answers(self, timeout_s: float = 5.0) -> bool:
        """True when the admin can log in and fetch metadata on the CLIENT listener."""
        from aiokafka import AIOKafkaClient  # noqa: PLC0415

        if not port_open(self.client_port):
            return False
        client = AIOKafkaClient(bootstrap_servers=self.bootstrap, request_timeout_ms=3000, **self.admin_options())
        try:
            await asyncio.wait_for(client.bootstrap(), timeout_s)
            return bool(client.cluster.brokers())
        except Exception:  # noqa: BLE001 - not yet
            return False
        finally:
            await client.close()

    def wait_ready(self, pid: int | None, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while not asyncio.run(self.answers()):
            if pid is not None and not is_alive(pid):
                raise StackError(f"Kafka exited:\n{tail(self.logs / 'kafka.out')}")
            if time.monotonic() > deadline:
                raise StackError(f"Kafka did not answer:\n{tail(self.logs / 'kafka' / 'server.log')}")
            time.sleep(0.3)

    # -- kafka-init ----------------------------------------------------------------------------------------------
    def tools_archive(self) -> Path | None:
        """A class-data sharing archive of the admin tools' classes, made once per set of jars (kept in
        tools_cache): each of kafka-init's ~35 tool runs then starts with about half the CPU."""
        if self.tools_cache is None:
            return None
        stamp = hashlib.sha256("\n".join(sorted(p.name for p in self.libs.glob("*.jar"))).encode()).hexdigest()[:12]
        archive = self.tools_cache / f"kafka-tools-{stamp}.jsa"
        if archive.exists():
            return archive
        self.tools_cache.mkdir(parents=True, exist_ok=True)
        bin_dir, lists = host_kafka_home(self.repo_root) / "bin", []
        admin = self.home / "admin.properties"
        fd = os.open(admin, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"security.protocol=SASL_PLAINTEXT\nsasl.mechanism={MECHANISM}\nsasl.jaas.config=org.apache.kafka."
                    f"common.security.scram.ScramLoginModule required username=\"{self.admin_user}\" "
                    f"password=\"{self.admin_password}\";\n")
        common = ["--bootstrap-server", self.bootstrap, "--command-config", str(admin)]
        try:
            for tool, args in (("kafka-topics.sh", ["--list"]), ("kafka-acls.sh", ["--list"]),
                               ("kafka-configs.sh", ["--describe", "--entity-type", "users"])):
                lists.append(self.home / f"{tool}.classes")
                subprocess.run([str(bin_dir / tool), *common, *args], capture_output=True, timeout=120,
                               env=os.environ | {"KIM_KAFKA_LIBS": str(self.libs),
                                                 "KIM_TOOLS_CLASS_LIST": str(lists[-1])})
        finally:
            admin.unlink(missing_ok=True)
        merged = self.home / "tools.classes"
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
        return archive if archive.exists() else None

    def kafka_init_env(self, home: Path) -> dict[str, str]:
        env = self.service_env("kafka-init") | {
            "PATH": os.environ["PATH"], "HOME": str(home), "KAFKA_BIN": str(host_kafka_home(self.repo_root) / "bin"),
            "KIM_KAFKA_LIBS": str(self.libs)}
        if archive := self.tools_archive():
            env["KIM_TOOLS_CDS_ARCHIVE"] = str(archive)
        env["KIM_KAFKA_BOOTSTRAP"] = relocate(env["KIM_KAFKA_BOOTSTRAP"], {"kafka:9092": self.bootstrap})
        return env

    def run_kafka_init(self, log_file: Path | None = None, extra_env: dict[str, str] | None = None) -> str:
        """deploy/kafka-init/kafka-init.sh with the `kafka-init` service's environment; returns its output."""
        env = self.kafka_init_env(self.home) | (extra_env or {})
        out = subprocess.run(["bash", str(self.repo_root / "deploy" / "kafka-init" / "kafka-init.sh")], env=env,
                             capture_output=True, text=True, timeout=600)
        if log_file is not None:
            log_file.write_text(out.stdout + out.stderr)
        if out.returncode != 0:
            raise StackError(f"kafka-init.sh failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
        return out.stdout + out.stderr
