"""Settings of the local stack, read from KIM_* environment variables."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# Must equal <kafka.version> in deploy/kafka/pom.xml (tests/unit/test_stack_config.py checks it).
DEFAULT_KAFKA_VERSION = "4.1.2"

# One database per service: no service reads another's tables.
SERVICE_DATABASES = ("kim_cases", "kim_staffing", "kim_referrals", "kim_reporting")


# The test suite's own stack (tests/conftest.py): another folder and another port block than `make run`'s, so tests
# never write into the broker or databases the demo runs on. KIM_STACK_DIR and the KIM_*_PORT variables override it.
TEST_STACK_DIR = Path(".cache") / "test-stack"  # under the repo root
TEST_STACK_PORTS = {"kafka_port": 29092, "kafka_controller_port": 29093, "postgres_port": 29432}


# Node n of a multi-broker stack listens on the base ports + BROKER_PORT_STEP * (n - 1).
BROKER_PORT_STEP = 10


class StackError(RuntimeError):
    """Something the user has to fix; the message says what was wrong and what to do."""


def find_repo_root() -> Path:
    """The checkout holding deploy/kafka/pom.xml: the source tree of this (editable) package, else the cwd upwards."""
    candidates = [Path(__file__).resolve().parents[4], *Path.cwd().resolve().parents]
    candidates.insert(1, Path.cwd().resolve())
    for path in candidates:
        if (path / "deploy" / "kafka" / "pom.xml").is_file():
            return path
    raise StackError("cannot find deploy/kafka/pom.xml: run kim from inside the KIM Hub checkout")


class StackConfig(BaseSettings):
    """Where the stack lives and which ports it uses.

    KIM_KAFKA_BOOTSTRAP (host:port of an existing Kafka) replaces the local broker; KIM_POSTGRES_URL (an admin URL
    of an existing server, e.g. postgresql://user:pw@host:5432/postgres) replaces the embedded PostgreSQL.
    """

    model_config = SettingsConfigDict(env_prefix="KIM_", extra="ignore")

    stack_dir: Path | None = Field(default=None, description="default: <repo>/.cache/stack")
    kafka_port: int = Field(default=9092, ge=1, le=65535)
    kafka_controller_port: int = Field(default=9093, ge=1, le=65535)
    postgres_port: int = Field(default=5432, ge=1, le=65535)
    kafka_version: str = Field(default=DEFAULT_KAFKA_VERSION, pattern=r"^\d+\.\d+\.\d+$")
    kafka_brokers: int = Field(default=1, ge=1, le=5, description="KRaft nodes on loopback (`--brokers 3`): node n "
                               "listens on KIM_KAFKA_PORT + 10*(n-1), its controller on KIM_KAFKA_CONTROLLER_PORT + 10*(n-1)")
    kafka_bootstrap: str | None = None
    postgres_url: str | None = None
    kafka_secure: bool = Field(default=False, description="the local broker as production runs it: SASL/SCRAM, "
                               "ACLs, a SASL_SSL partner listener (kim_cli.secure_kafka); `kim run` sets it")
    kafka_external_port: int | None = Field(default=None, ge=1, le=65535, description="secure broker's EXTERNAL "
                                            "listener (partners, SASL_PLAINTEXT); default KIM_KAFKA_PORT + 2")
    kafka_partner_port: int | None = Field(default=None, ge=1, le=65535, description="secure broker's PARTNER "
                                           "listener (partners, SASL_SSL); default KIM_KAFKA_PORT + 3")

    @classmethod
    def from_env(cls) -> StackConfig:
        return cls()

    @classmethod
    def for_tests(cls) -> StackConfig:
        """The test suite's stack: <repo>/.cache/test-stack and ports 29092/29093/29432 unless KIM_* say otherwise."""
        cfg = cls()
        defaults = {name: value for name, value in TEST_STACK_PORTS.items() if name not in cfg.model_fields_set}
        if "stack_dir" not in cfg.model_fields_set:
            defaults["stack_dir"] = cfg.repo_root / TEST_STACK_DIR
        return cfg.model_copy(update=defaults)

    def environment(self) -> dict[str, str]:
        """The KIM_* variables that name this stack, for child processes (`kim`, services) to find it."""
        env = {"KIM_STACK_DIR": str(self.dir), "KIM_KAFKA_PORT": str(self.kafka_port),
               "KIM_KAFKA_BROKERS": str(self.kafka_brokers),
               "KIM_KAFKA_CONTROLLER_PORT": str(self.kafka_controller_port),
               "KIM_POSTGRES_PORT": str(self.postgres_port)}
        if self.kafka_secure:
            env["KIM_KAFKA_SECURE"] = "true"
        return env | {k: v for k, v in (("KIM_KAFKA_BOOTSTRAP", self.kafka_bootstrap),
                                        ("KIM_POSTGRES_URL", self.postgres_url)) if v}

    @cached_property
    def repo_root(self) -> Path:
        return find_repo_root()

    @cached_property
    def dir(self) -> Path:
        """The stack dir, absolute: data, config, logs and pid files of this stack."""
        return (self.stack_dir or self.repo_root / ".cache" / "stack").resolve()

    @property
    def cache_dir(self) -> Path:
        return self.repo_root / ".cache"

    @property
    def local_kafka(self) -> bool:
        return not self.kafka_bootstrap

    @property
    def local_postgres(self) -> bool:
        return not self.postgres_url

    @property
    def logs_dir(self) -> Path:
        return self.dir / "logs"

    def broker_ports(self) -> list[tuple[int, int]]:
        """(client port, controller port) of each local Kafka node, node 1 first."""
        return [(self.kafka_port + BROKER_PORT_STEP * i, self.kafka_controller_port + BROKER_PORT_STEP * i)
                for i in range(self.kafka_brokers)]

    @property
    def replication_factor(self) -> int:
        """Replicas of each topic: 1 on one node, 3 from three nodes on (a write is acknowledged by 2 of them)."""
        return min(self.kafka_brokers, 3)

    @property
    def min_insync_replicas(self) -> int:
        return 2 if self.replication_factor >= 3 else 1

    def bootstrap(self) -> str:
        """host:port of every local node, comma-separated (clients need one that answers), or KIM_KAFKA_BOOTSTRAP."""
        return self.kafka_bootstrap or ",".join(f"127.0.0.1:{port}" for port, _ in self.broker_ports())

    @property
    def secure_kafka_home(self) -> Path:
        """The secure broker's folder: server.properties, data, tls/ (ca.pem), and kim.env (its .env, mode 600)."""
        return self.dir / "kafka-secure"

    @property
    def secure_pid_file(self) -> Path:
        return self.dir / "kafka-secure.pid"

    @property
    def secure_ports(self) -> tuple[int, int]:
        """(EXTERNAL, PARTNER) listener ports of the secure local broker."""
        return (self.kafka_external_port or self.kafka_port + 2, self.kafka_partner_port or self.kafka_port + 3)

    def kafka_client_options(self) -> dict:
        """aiokafka options for a tool of this checkout (audit, replay, run): the admin SCRAM user when this stack
        dir holds the secure local broker; else nothing (plaintext)."""
        env_file = self.secure_kafka_home / "kim.env"
        if not self.local_kafka or not env_file.exists() or not self.secure_pid_file.exists():
            return {}
        from kim_cli.compose_file import read_env_file  # noqa: PLC0415

        env = read_env_file(env_file)
        return {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-512",
                "sasl_plain_username": env.get("KIM_KAFKA_ADMIN_USER") or "kim-admin",
                "sasl_plain_password": env["KIM_KAFKA_ADMIN_PASSWORD"]}

    def admin_url(self) -> str:
        return self.postgres_url or f"postgresql://postgres@127.0.0.1:{self.postgres_port}/postgres"
