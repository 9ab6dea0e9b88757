"""The local Kafka broker: jars from Maven Central (deploy/kafka/pom.xml), KRaft storage, one JVM process."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import shutil
import string
import subprocess
import time
import uuid
from pathlib import Path

from kim_cli.stack_config import StackConfig, StackError
from kim_cli.stack_procs import file_lock, is_alive, port_open, tail

JVM_OPTS = ["-Xms128m", "-Xmx512m", "-XX:+UseSerialGC", "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true"]


def _tool(name: str, hint: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise StackError(f"`{name}` not found on PATH: {hint}")
    return path


def ensure_jars(cfg: StackConfig) -> Path:
    """.cache/kafka/<version>/libs, resolved once by Maven (its repository under .cache/m2)."""
    home = cfg.cache_dir / "kafka" / cfg.kafka_version
    libs, done = home / "libs", home / ".resolved"
    pom = cfg.repo_root / "deploy" / "kafka" / "pom.xml"
    # resolved again when the pom changed (a dependency added, e.g. the admin tools)
    stamp = f"pom sha256 {hashlib.sha256(pom.read_bytes()).hexdigest()}"
    if done.exists() and stamp in done.read_text():
        return libs
    with file_lock(home.parent / f"{cfg.kafka_version}.lock"):
        if done.exists() and stamp in done.read_text():
            return libs
        mvn = _tool("mvn", "install Maven 3 (e.g. apt-get install maven) to fetch the Kafka jars")
        shutil.rmtree(libs, ignore_errors=True)
        cmd = [mvn, "-q", "-B", "-f", str(cfg.repo_root / "deploy" / "kafka" / "pom.xml"),
               f"-Dmaven.repo.local={cfg.cache_dir / 'm2'}", f"-Dkafka.version={cfg.kafka_version}",
               "dependency:copy-dependencies", f"-DoutputDirectory={libs}"]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise StackError(f"Maven could not resolve Kafka {cfg.kafka_version} (is Maven Central reachable? "
                             f"is KIM_KAFKA_VERSION a published version?):\n{result.stdout[-3000:]}{result.stderr[-2000:]}")
        done.write_text(" ".join(cmd) + f"\n{stamp}\n")
    return libs


def _cluster_id() -> str:
    """A Kafka-style id: 16 random bytes, URL-safe base64 without padding, not starting with '-'."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def nodes(cfg: StackConfig) -> list[int]:
    """The node ids of the local Kafka: [1], or [1, 2, 3] with three brokers."""
    return list(range(1, cfg.kafka_brokers + 1))


def paths(cfg: StackConfig, node: int = 1) -> dict[str, Path]:
    """Files of one node: <stack dir>/kafka (one node) or <stack dir>/kafka-<n> (node n of several)."""
    name = "kafka" if cfg.kafka_brokers == 1 else f"kafka-{node}"
    home = cfg.dir / name
    return {"home": home, "config": home / "server.properties", "data": home / "data",
            "logs": cfg.logs_dir / name, "out": cfg.logs_dir / f"{name}.out", "pid": cfg.dir / f"{name}.pid"}


def write_config(cfg: StackConfig, node: int = 1) -> Path:
    p = paths(cfg, node)
    p["data"].mkdir(parents=True, exist_ok=True)
    p["logs"].mkdir(parents=True, exist_ok=True)
    ports = cfg.broker_ports()
    kafka_port, controller_port = ports[node - 1]
    voters = ",".join(f"{n}@127.0.0.1:{ctl}" for n, (_, ctl) in enumerate(ports, start=1))
    template = string.Template((cfg.repo_root / "deploy" / "kafka" / "server.properties").read_text())
    p["config"].write_text(template.substitute(
        kafka_port=kafka_port, controller_port=controller_port, data_dir=p["data"], node_id=node, voters=voters,
        replication=cfg.replication_factor, min_isr=cfg.min_insync_replicas))
    return p["config"]


def _java_cmd(cfg: StackConfig, libs: Path, main: str, *args: str, node: int = 1) -> list[str]:
    java = _tool("java", "install a Java 17+ runtime (e.g. apt-get install openjdk-17-jre-headless)")
    log_cfg = cfg.repo_root / "deploy" / "kafka" / "log4j2.xml"
    return [java, *JVM_OPTS, f"-Dlog4j2.configurationFile={log_cfg}", f"-Dkafka.logs.dir={paths(cfg, node)['logs']}",
            "-cp", f"{libs}/*", main, *args]


def cluster_id(cfg: StackConfig) -> str:
    """One id for every node of the stack: new for one node, kept in <stack dir>/kafka-cluster-id for several."""
    if cfg.kafka_brokers == 1:
        return _cluster_id()
    path = cfg.dir / "kafka-cluster-id"
    if not path.exists():
        path.write_text(_cluster_id() + "\n")
    return path.read_text().strip()


def format_storage(cfg: StackConfig, libs: Path, node: int = 1) -> None:
    p = paths(cfg, node)
    if (p["data"] / "meta.properties").exists():
        return
    cmd = _java_cmd(cfg, libs, "kafka.tools.StorageTool", "format", "-t", cluster_id(cfg), "-c", str(p["config"]),
                    node=node)
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise StackError(f"formatting Kafka storage in {p['data']} failed; delete that folder and retry:\n"
                         f"{result.stdout[-2000:]}{result.stderr[-2000:]}")


def start(cfg: StackConfig, libs: Path, node: int = 1) -> int:
    p = paths(cfg, node)
    with open(p["out"], "ab") as out:
        proc = subprocess.Popen(_java_cmd(cfg, libs, "kafka.Kafka", str(p["config"]), node=node), stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    return proc.pid


async def answers(bootstrap: str, timeout_s: float = 3.0, brokers: int = 1) -> bool:
    """True when a metadata request succeeds and names at least `brokers` brokers."""
    first = [hp for hp in bootstrap.split(",") if hp.strip()]
    reachable = [hp for hp in first if port_open(int(hp.rpartition(":")[2]), hp.rpartition(":")[0] or "127.0.0.1")]
    if not reachable:  # spares aiokafka's connection-refused error logs
        return False
    from aiokafka import AIOKafkaClient  # noqa: PLC0415 - keep `kim --help` fast

    client = AIOKafkaClient(bootstrap_servers=",".join(reachable), request_timeout_ms=int(timeout_s * 1000))
    try:
        await asyncio.wait_for(client.bootstrap(), timeout_s)
        return len(client.cluster.brokers()) >= brokers
    except Exception:  # noqa: BLE001 - any failure means "not yet"
        return False
    finally:
        await client.close()


async def wait_ready(cfg: StackConfig, pid: int | None, timeout_s: float = 90.0, *,
                     pids: dict[int, int] | None = None) -> None:
    """Until every node answers (each in the cluster's metadata); `pids` ({node: pid}) or `pid` (node 1) are
    checked for an early exit."""
    watched = pids if pids is not None else ({1: pid} if pid is not None else {})
    want = cfg.kafka_brokers if cfg.local_kafka else 1
    deadline = time.monotonic() + timeout_s
    while not await answers(cfg.bootstrap(), 2.0, brokers=want):
        for node, node_pid in watched.items():
            if not is_alive(node_pid):
                p = paths(cfg, node)
                raise StackError(f"Kafka exited during start-up; last lines of {p['out']} and "
                                 f"{p['logs'] / 'server.log'}:\n{tail(p['out'])}\n{tail(p['logs'] / 'server.log')}")
        if time.monotonic() > deadline:
            raise StackError(f"Kafka at {cfg.bootstrap()} did not answer within {timeout_s:.0f} s; "
                             f"see {paths(cfg)['logs'] / 'server.log'}")
        await asyncio.sleep(0.25)
