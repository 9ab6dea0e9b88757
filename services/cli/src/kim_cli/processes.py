"""The four services and the web app as child processes (`python -m kim_<name>`): start, wait until ready, stop by pid.

    procs = [start_service(name, port, service_env(...), logs_dir) for name, port in ...]
    wait_ready(procs)              # every /readyz answers 200, or ServiceError with the log's tail
    stop_services(procs)           # SIGTERM (uvicorn shuts down cleanly), SIGKILL after a grace period

`skip_history` moves a service's consumer groups to the end of their topics: a service started on fresh databases
then sees only what happens from now on, not what earlier runs and tests left on a shared broker.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets as secrets_mod
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

from kim_cli.stack_procs import is_alive, tail, terminate

SERVICES = ("cases", "staffing", "referrals", "reporting")
DEFAULT_PORTS = {"cases": 8001, "staffing": 8002, "referrals": 8003, "reporting": 8004, "web": 8005}
WEB = "web"  # the fifth process: no database, no Kafka; it calls the four services' HTTP APIs

# settings a service would read in preference to (or besides) the ones we pass; dropped from the inherited env
_OVERRIDES = ("KIM_SERVICE", "KIM_HTTP_HOST", "KIM_REPORTING_TOPIC_SUFFIX", "KIM_MIGRATION_DATABASE_URL", *(f"KIM_{s.upper()}_{k}" for s in SERVICES
                                                  for k in ("DATABASE_URL", "HTTP_PORT")))


class ServiceError(RuntimeError):
    """A service did not come up; the message names it, says why and where its log is."""


@dataclass
class ServiceProcess:
    name: str
    port: int
    popen: subprocess.Popen
    log_path: Path
    host: str = "127.0.0.1"

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def secrets(stack_dir: Path) -> dict[str, str]:
    """The secrets of this stack: the auth and pseudonym secrets, the cases service's key-encryption key (KEK,
    as ID:KEY) and the key that signs the stores' anchors. Generated once and kept in <stack dir>/secrets.json (mode 600), so printed tokens, partner
    pseudonyms and wrapped client keys stay valid across runs on the same data; one missing from an older file is
    added to it."""
    path = stack_dir / "secrets.json"
    values = json.loads(path.read_text()) if path.exists() else {}
    missing = {name: make() for name, make in _GENERATED.items() if name not in values}
    if missing:
        values |= missing
        stack_dir.mkdir(parents=True, exist_ok=True)
        scratch = path.with_name(f".{path.name}.{os.getpid()}")
        scratch.unlink(missing_ok=True)
        fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(values, fh)
        os.replace(scratch, path)
    return values


def _local_kek() -> str:
    from kim_cases.public import generate_kek

    return generate_kek(f"local-{secrets_mod.token_hex(4)}").entry()


def _audit_signing_key() -> str:
    from kim_runtime.anchor import Signer

    return Signer.generate()[1]


_GENERATED = {"auth_secret": lambda: secrets_mod.token_urlsafe(48),
              "service_token_secret": lambda: secrets_mod.token_urlsafe(48),
              "pseudonym_secret": lambda: secrets_mod.token_urlsafe(48), "master_key": _local_kek,
              "audit_signing_key": _audit_signing_key}


def peer_env(name: str, ports: dict[str, int]) -> dict[str, str]:
    """Where a service finds the others of this run: the referrals service reaches the cases service for a partner's
    consented personal data, and names its own partner API in ce_dataschema (defaults: 8001 and 8003); the reporting
    service reaches the cases service for the clients' sealing keys."""
    if name == "reporting":
        return {"KIM_REPORTING_CASES_URL": f"http://127.0.0.1:{ports['cases']}"}
    if name != "referrals":
        return {}
    return {"KIM_REFERRALS_CASES_URL": f"http://127.0.0.1:{ports['cases']}",
            "KIM_REFERRALS_PUBLIC_URL": f"http://127.0.0.1:{ports['referrals']}"}


def kek_env(stack_secrets: dict[str, str]) -> dict[str, str]:
    """KIM_MASTER_KEY for the cases service from the stack's secrets, unless the caller configured a KEK already."""
    if os.environ.get("KIM_MASTER_KEY") or os.environ.get("KIM_MASTER_KEY_FILE"):
        return {}
    return {"KIM_MASTER_KEY": stack_secrets["master_key"]}


def audit_env(stack_secrets: dict[str, str], anchor_dir: Path) -> dict[str, str]:
    """The audit signing key from the stack's secrets (unless the caller configured one) and the folder of the
    services' anchor files."""
    env = {"KIM_AUDIT_ANCHOR_DIR": str(anchor_dir)}
    if os.environ.get("KIM_AUDIT_SIGNING_KEY") or os.environ.get("KIM_AUDIT_SIGNING_KEY_FILE"):
        return env
    return env | {"KIM_AUDIT_SIGNING_KEY": stack_secrets["audit_signing_key"]}


def service_role(name: str) -> str:
    """The login role a service connects as; its database's owner (the stack's admin) runs the migrations."""
    return f"kim_{name}_app"


async def ensure_service_roles(admin_url: str, names: list[str]) -> None:
    """Create each service's login role on the local PostgreSQL unless it exists (trust auth: no password)."""
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    try:
        for name in names:
            role = service_role(name)
            if not await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role):
                with contextlib.suppress(asyncpg.DuplicateObjectError):
                    await conn.execute(f'CREATE ROLE "{role}" LOGIN')
    finally:
        await conn.close()


def database_urls(owner_url: str, name: str) -> tuple[str, dict[str, str]]:
    """The service connects as its own role (which may not rewrite events); migrations run as the database's
    owner, as in compose. Returns the service's URL and the migration setting for `service_env`."""
    parts = urlsplit(owner_url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return (urlunsplit(parts._replace(netloc=f"{service_role(name)}@{host}")),
            {"KIM_MIGRATION_DATABASE_URL": owner_url})


def service_env(*, database_url: str, port: int, kafka_bootstrap: str, auth_secret: str,
                pseudonym_secret: str | None = None, service_token_secret: str | None = None,
                base: dict[str, str] | None = None, **extra: str) -> dict[str, str]:
    """The environment of one service process: its database, port, Kafka and the shared secrets (the service token
    secret only the services get: never partner-admin.env, the web app or a CLI's environment)."""
    env = {k: v for k, v in (os.environ if base is None else base).items() if k not in _OVERRIDES}
    env |= {"KIM_DATABASE_URL": database_url, "KIM_HTTP_PORT": str(port), "KIM_HTTP_HOST": "127.0.0.1",
            "KIM_KAFKA_BOOTSTRAP": kafka_bootstrap, "KIM_AUTH_SECRET": auth_secret, "PYTHONUNBUFFERED": "1"}
    if pseudonym_secret:
        env["KIM_PSEUDONYM_SECRET"] = pseudonym_secret
    if service_token_secret:
        env["KIM_SERVICE_TOKEN_SECRET"] = service_token_secret
    return env | extra


def web_env(*, urls: dict[str, str], port: int, demo_tokens_file: Path | None = None,
            base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of the web app: where the four services are, its port, and (dev only) the demo sign-ins."""
    env = {k: v for k, v in (os.environ if base is None else base).items()
           if k not in _OVERRIDES and not k.startswith("KIM_WEB_") and k != "KIM_SERVICE_TOKEN_SECRET"}
    env |= {f"KIM_WEB_{name.upper()}_URL": url for name, url in urls.items()}
    env |= {"KIM_WEB_HTTP_PORT": str(port), "KIM_HTTP_HOST": "127.0.0.1", "PYTHONUNBUFFERED": "1"}
    if demo_tokens_file is not None:
        env["KIM_WEB_DEMO_TOKENS_FILE"] = str(demo_tokens_file)
    return env


def start_service(name: str, port: int, env: dict[str, str], logs_dir: Path) -> ServiceProcess:
    """Start `python -m kim_<name>` in its own session (a terminal's Ctrl-C reaches only us; we stop it)."""
    logs_dir.mkdir(parents=True, exist_ok=True)
    log_path = logs_dir / f"{name}.log"
    with open(log_path, "ab") as log:
        log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting kim_{name} on port {port}\n".encode())
        log.flush()
        popen = subprocess.Popen([sys.executable, "-m", f"kim_{name}"], env=env, stdout=log,
                                 stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    return ServiceProcess(name, port, popen, log_path)


def ready(proc: ServiceProcess, client: httpx.Client) -> bool:
    try:
        return client.get(f"{proc.url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def wait_ready(procs: list[ServiceProcess], timeout_s: float = 90) -> None:
    """Return when every service answers /readyz with 200; raise ServiceError if one exits or time runs out."""
    pending = list(procs)
    deadline = time.monotonic() + timeout_s
    with httpx.Client() as client:
        while pending:
            for proc in list(pending):
                if proc.popen.poll() is not None:
                    raise ServiceError(f"{proc.name} exited with code {proc.popen.returncode} before it was ready; "
                                       f"its log ({proc.log_path}) ends with:\n{tail(proc.log_path)}")
                if ready(proc, client):
                    pending.remove(proc)
            if pending and time.monotonic() > deadline:
                names = ", ".join(f"{p.name} ({p.url}/readyz, log {p.log_path})" for p in pending)
                raise ServiceError(f"not ready after {timeout_s:.0f} s: {names}")
            if pending:
                time.sleep(0.2)


def alive(procs: list[ServiceProcess]) -> list[ServiceProcess]:
    return [p for p in procs if is_alive(p.pid) and p.popen.poll() is None]


def stop_services(procs: list[ServiceProcess], grace_s: float = 15) -> None:
    """Stop exactly these processes (SIGTERM, then SIGKILL after grace_s) and reap them."""
    terminate([p.pid for p in procs], grace_s=grace_s)
    for p in procs:
        try:
            p.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


def consumer_groups(name: str) -> dict[str, tuple[str, ...]]:
    """{consumer group id: topics} of a service, read from its own wiring (nothing is started)."""
    import importlib

    bootstrap = importlib.import_module(f"kim_{name}.bootstrap")
    app = bootstrap.build_app()
    runtime = getattr(app.state, "runtime", None) or app.state.service.runtime
    return {runtime.consumers.group_id(h): tuple(h.topics) for h in runtime.handlers}


async def topic_partitions(kafka_bootstrap: str, topics: list[str], **options) -> list:
    """The TopicPartitions of those topics that exist (a topic nobody wrote to yet has none)."""
    from aiokafka import TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap, **options)
    await admin.start()
    try:
        existing = [t for t in dict.fromkeys(topics) if t in set(await admin.list_topics())]
        described = await admin.describe_topics(existing) if existing else []
    finally:
        await admin.close()
    return [TopicPartition(d["topic"], p["partition"]) for d in described for p in d.get("partitions") or ()]


async def skip_history(kafka_bootstrap: str, groups: dict[str, tuple[str, ...]], **options) -> None:
    """Commit the current end of every topic for each group (topics that do not exist yet start empty anyway);
    `options`: the admin's SASL settings on the secure broker."""
    from aiokafka import AIOKafkaConsumer
    from aiokafka.structs import OffsetAndMetadata

    parts = await topic_partitions(kafka_bootstrap, [t for topics in groups.values() for t in topics], **options)
    for group, topics in groups.items():
        mine = [tp for tp in parts if tp.topic in topics]
        if not mine:
            continue
        consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=group, enable_auto_commit=False,
                                    **options)
        await consumer.start()
        try:
            consumer.assign(mine)
            end = await consumer.end_offsets(mine)
            await consumer.commit({tp: OffsetAndMetadata(offset, "") for tp, offset in end.items()})
        finally:
            await consumer.stop()
