"""The local stack as a library: real Kafka (KRaft, one node or three) and real PostgreSQL, started on demand.

    cfg = StackConfig.from_env()
    handle = ensure_up(cfg)          # idempotent; returns when both answer
    await create_database(handle.postgres_url, "kim_test_x")
    stop(handle)                     # stops only what this ensure_up started (handle.started_pids)

`down(cfg)` stops whatever the pid files of cfg's stack dir name. Details: stack_kafka.py, stack_postgres.py.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from kim_cli import stack_kafka as kafka
from kim_cli import stack_postgres as pg
from kim_cli import stack_topics
from kim_cli.stack_config import DEFAULT_KAFKA_VERSION, SERVICE_DATABASES, StackConfig, StackError
from kim_cli.stack_postgres import create_database, drop_database
from kim_cli.stack_procs import file_lock, owned_pid, port_open, terminate, write_pid

__all__ = ["DEFAULT_KAFKA_VERSION", "SERVICE_DATABASES", "StackConfig", "StackError", "StackHandle", "create_database",
           "down", "drop_database", "ensure_up", "status", "stop"]

_log = logging.getLogger("kim.stack")
Log = Callable[[str], None]


@dataclass
class StackHandle:
    kafka_bootstrap: str
    postgres_url: str  # admin URL, database "postgres"
    started_pids: list[int] = field(default_factory=list)
    seconds: float = 0.0  # how long ensure_up took
    config: StackConfig | None = field(default=None, repr=False)
    # the admin's SASL options on the secure local broker (empty: plaintext); and that broker, for its listeners
    kafka_options: dict = field(default_factory=dict, repr=False)
    secure: Any = field(default=None, repr=False)

    def database_url(self, name: str) -> str:
        return pg.database_url(self.postgres_url, pg.check_name(name))


def _run(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine to completion, also when the caller already runs an event loop (then in a thread)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _claim_port(port: int, what: str, env: str) -> None:
    if port_open(port):
        raise StackError(f"port {port} is already taken by a process this stack did not start; stop it, or set {env} "
                         f"to a free port (or point at an existing {what})")


def secure_broker(cfg: StackConfig):
    """The secure local broker of cfg's stack dir (kim_cli.secure_kafka): its .env is made once (fresh passwords,
    kept in <stack dir>/kafka-secure/kim.env, mode 600) and reused, so the data formatted with it stays usable."""
    from kim_cli import secure_kafka  # noqa: PLC0415

    if cfg.kafka_brokers != 1:
        raise StackError("the secure local broker is one node; use --insecure for several")
    home = cfg.secure_kafka_home
    env_file = home / "kim.env"
    external, partner = cfg.secure_ports
    if not env_file.exists():
        home.mkdir(parents=True, exist_ok=True)
        env = secure_kafka.fresh_env(cfg.repo_root, external_port=external, partner_port=partner)
        fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("".join(f"{k}={v}\n" for k, v in sorted(env.items())))
    from kim_cli.compose_file import read_env_file  # noqa: PLC0415

    env = read_env_file(env_file) | {"KIM_KAFKA_EXTERNAL_PORT": str(external), "KIM_KAFKA_PARTNER_PORT": str(partner)}
    return secure_kafka.SecureKafka(repo_root=cfg.repo_root, home=home, env=env, client_port=cfg.kafka_port,
                                    external_port=external, partner_port=partner,
                                    controller_port=cfg.kafka_controller_port, libs=kafka.ensure_jars(cfg),
                                    tools_cache=cfg.cache_dir / "kafka-tools", logs=cfg.logs_dir / "kafka-secure")


def _secure_kafka_running(cfg: StackConfig, started: list[int], log: Log) -> None:
    broker = secure_broker(cfg)
    pid = owned_pid(cfg.secure_pid_file, str(broker.config))
    if pid is not None:
        log(f"Kafka (secure): already running (pid {pid}) at {cfg.bootstrap()}")
        return broker.wait_ready(pid, timeout_s=60)
    for port in broker.ports():
        _claim_port(port, "Kafka", "KIM_KAFKA_PORT (the secure broker takes it, +2 and +3, and the controller port)")
    pid = broker.start()
    started.append(pid)
    write_pid(cfg.secure_pid_file, pid)
    broker.wait_ready(pid)
    marker = broker.home / ".kafka-init-done"
    if not marker.exists():  # topics, users and ACLs, once per data dir (kafka-init.sh is safe to run again)
        t0 = time.monotonic()
        broker.run_kafka_init(log_file=broker.logs / "kafka-init.log")
        marker.touch()
        log(f"Kafka (secure): deploy/kafka-init/kafka-init.sh set up topics, SCRAM users and ACLs in "
            f"{time.monotonic() - t0:.0f} s (log {broker.logs / 'kafka-init.log'})")
    log(f"Kafka {cfg.kafka_version} (secure: SASL/SCRAM-SHA-512, ACLs, deny by default) started (pid {pid}): "
        f"CLIENT {broker.bootstrap} (services, tools), EXTERNAL {broker.external_bootstrap} (SASL_PLAINTEXT), "
        f"PARTNER {broker.partner_bootstrap} (SASL_SSL, CA {broker.ca_file}); logs in {broker.logs}")


def _kafka_up(cfg: StackConfig, started: list[int], log: Log) -> None:
    if cfg.kafka_secure and cfg.local_kafka:  # kafka-init.sh made the topics, as in compose
        return _secure_kafka_running(cfg, started, log)
    _kafka_running(cfg, started, log)
    if created := _run(stack_topics.ensure(cfg)):
        log(f"Kafka: created topics {', '.join(sorted(created))} ({stack_topics.TOPICS_FILE})")


def _kafka_running(cfg: StackConfig, started: list[int], log: Log) -> None:
    if not cfg.local_kafka:
        log(f"Kafka: using the existing broker at {cfg.bootstrap()} (KIM_KAFKA_BOOTSTRAP)")
        return _run(kafka.wait_ready(cfg, None, timeout_s=30))
    pids: dict[int, int] = {}
    to_start = []
    for node in kafka.nodes(cfg):
        p = kafka.paths(cfg, node)
        pid = owned_pid(p["pid"], str(p["config"]))
        if pid is not None:
            pids[node] = pid
        else:
            to_start.append(node)
    if not to_start:
        log(f"Kafka: already running (pid {', '.join(map(str, pids.values()))}) at {cfg.bootstrap()}")
        return _run(kafka.wait_ready(cfg, None, pids=pids))
    for node in to_start:
        port, controller = cfg.broker_ports()[node - 1]
        _claim_port(port, "Kafka", "KIM_KAFKA_PORT")
        _claim_port(controller, "Kafka", "KIM_KAFKA_CONTROLLER_PORT")
    libs = kafka.ensure_jars(cfg)
    for node in to_start:
        p = kafka.paths(cfg, node)
        kafka.write_config(cfg, node)
        kafka.format_storage(cfg, libs, node)
        pids[node] = pid = kafka.start(cfg, libs, node)
        started.append(pid)
        write_pid(p["pid"], pid)
    nodes = "" if cfg.kafka_brokers == 1 else f" {cfg.kafka_brokers} KRaft nodes,"
    log(f"Kafka {cfg.kafka_version}:{nodes} started (pid {', '.join(str(pids[n]) for n in to_start)}), logs in "
        f"{cfg.logs_dir}")
    _run(kafka.wait_ready(cfg, None, pids=pids))


def _postgres_up(cfg: StackConfig, started: list[int], log: Log) -> None:
    if cfg.local_postgres:
        p = pg.paths(cfg)
        pid = owned_pid(p["pid"], str(p["data"]))
        if pid is not None:
            log(f"PostgreSQL: already running (pid {pid}) on 127.0.0.1:{cfg.postgres_port}")
        else:
            _claim_port(cfg.postgres_port, "PostgreSQL", "KIM_POSTGRES_PORT")
            pg.init_data(cfg)
            pid = pg.start(cfg)
            started.append(pid)
            write_pid(p["pid"], pid)
            log(f"PostgreSQL: started (pid {pid}) with dev settings (fsync=off: fast, not crash-safe), "
                f"log {p['log']}")
    else:
        pid = None
        log(f"PostgreSQL: using the existing server at {pg.redact(cfg.admin_url())} (KIM_POSTGRES_URL)")
    _run(pg.wait_ready(cfg, pid))
    for name in SERVICE_DATABASES:
        _run(create_database(cfg.admin_url(), name))


def ensure_up(cfg: StackConfig | None = None, log: Log = _log.info) -> StackHandle:
    """Start what is not running yet (Kafka and PostgreSQL side by side); return when both answer."""
    cfg = cfg or StackConfig.from_env()
    t0 = time.monotonic()
    started: list[int] = []
    cfg.dir.mkdir(parents=True, exist_ok=True)
    with file_lock(cfg.dir / ".lock"):
        try:
            with ThreadPoolExecutor(2) as pool:
                jobs = [pool.submit(_kafka_up, cfg, started, log), pool.submit(_postgres_up, cfg, started, log)]
                for job in jobs:
                    job.result()
        except BaseException:
            _stop_pids(cfg, started)
            raise
    handle = StackHandle(cfg.bootstrap(), cfg.admin_url(), started, time.monotonic() - t0, cfg,
                         kafka_options=cfg.kafka_client_options() if cfg.kafka_secure else {},
                         secure=secure_broker(cfg) if cfg.kafka_secure and cfg.local_kafka else None)
    log(f"stack ready in {handle.seconds:.1f} s: Kafka {handle.kafka_bootstrap}, PostgreSQL "
        f"{pg.redact(handle.postgres_url)}")
    return handle


def _stop_pids(cfg: StackConfig, pids: list[int]) -> None:
    terminate(pids)
    for pid_file in (*(kafka.paths(cfg, n)["pid"] for n in kafka.nodes(cfg)), pg.paths(cfg)["pid"],
                     cfg.secure_pid_file):
        if pid_file.exists() and pid_file.read_text().strip() in {str(p) for p in pids}:
            pid_file.unlink()


_stop_lock = threading.Lock()


def stop(handle: StackHandle) -> None:
    """Stop exactly the processes this handle's ensure_up started; leave a reused stack running."""
    with _stop_lock:
        _stop_pids(handle.config or StackConfig.from_env(), handle.started_pids)


def down(cfg: StackConfig | None = None, log: Log = _log.info) -> list[int]:
    """Stop the processes named by the pid files of cfg's stack dir; return their pids."""
    cfg = cfg or StackConfig.from_env()
    found = {}
    for brokers in sorted({1, cfg.kafka_brokers, *brokers_on_disk(cfg)}):  # whatever was started from this dir
        multi = cfg.model_copy(update={"kafka_brokers": brokers})
        for node in kafka.nodes(multi):
            p = kafka.paths(multi, node)
            found["Kafka" if brokers == 1 else f"Kafka node {node}"] = (p["pid"], str(p["config"]))
    if cfg.secure_pid_file.exists():
        found["Kafka (secure)"] = (cfg.secure_pid_file, str(cfg.secure_kafka_home / "server.properties"))
    found["PostgreSQL"] = (pg.paths(cfg)["pid"], str(pg.paths(cfg)["data"]))
    pids = []
    for what, (pid_file, marker) in found.items():
        pid = owned_pid(pid_file, marker)
        if pid is None:
            log(f"{what}: not running from {cfg.dir}")
        else:
            log(f"{what}: stopping pid {pid}")
            pids.append(pid)
    terminate(pids)
    for pid_file, _ in found.values():
        pid_file.unlink(missing_ok=True)
    return pids


def brokers_on_disk(cfg: StackConfig) -> set[int]:
    """How many nodes a multi-broker stack in cfg's dir had (from its kafka-<n>.pid files)."""
    nodes = [int(p.stem.split("-")[1]) for p in cfg.dir.glob("kafka-*.pid") if p.stem.split("-")[1].isdigit()]
    return {max(nodes)} if nodes else set()


def status(cfg: StackConfig | None = None) -> dict[str, dict[str, Any]]:
    """Address, liveness and (local) pid of each part of the stack ("pids": every Kafka node's)."""
    cfg = cfg or StackConfig.from_env()
    kafka_pids = [owned_pid(kafka.paths(cfg, n)["pid"], str(kafka.paths(cfg, n)["config"]))
                  for n in kafka.nodes(cfg)] if cfg.local_kafka else []
    kafka_pids = [p for p in kafka_pids if p]
    if secure_pid := owned_pid(cfg.secure_pid_file, str(cfg.secure_kafka_home / "server.properties")):
        kafka_pids = [secure_pid]
        up = _run(secure_broker(cfg).answers(2.0))
    else:
        up = _run(kafka.answers(cfg.bootstrap(), 2.0, brokers=cfg.kafka_brokers if cfg.local_kafka else 1))
    pg_pid = owned_pid(pg.paths(cfg)["pid"], str(pg.paths(cfg)["data"])) if cfg.local_postgres else None
    return {
        "kafka": {"address": cfg.bootstrap(), "pid": kafka_pids[0] if kafka_pids else None, "pids": kafka_pids,
                  "up": up, "secure": bool(secure_pid)},
        "postgres": {"address": pg.redact(cfg.admin_url()), "up": _run(pg.answers(cfg.admin_url(), 2.0)),
                     "pid": pg_pid, "pids": [pg_pid] if pg_pid else []},
    }
