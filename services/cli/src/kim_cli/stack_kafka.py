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


def paths(cfg: StackConfig) -> dict[str, Path]:
    home = cfg.dir / "kafka"
    return {"home": home, "config": home / "server.properties", "data": home / "data",
            "logs": cfg.logs_dir / "kafka", "out": cfg.logs_dir / "kafka.out", "pid": cfg.dir / "kafka.pid"}


def write_config(cfg: StackConfig) -> Path:
    p = paths(cfg)
    p["data"].mkdir(parents=True, exist_ok=True)
    p["logs"].mkdir(parents=True, exist_ok=True)
    template = string.Template((cfg.repo_root / "deploy" / "kafka" / "server.properties").read_text())
    p["config"].write_text(template.substitute(kafka_port=cfg.kafka_port, controller_port=cfg.kafka_controller_port,
                                               data_dir=p["data"]))
    return p["config"]


def _java_cmd(cfg: StackConfig, libs: Path, main: str, *args: str) -> list[str]:
    java = _tool("java", "install a Java 17+ runtime (e.g. apt-get install openjdk-17-jre-headless)")
    log_cfg = cfg.repo_root / "deploy" / "kafka" / "log4j2.xml"
    return [java, *JVM_OPTS, f"-Dlog4j2.configurationFile={log_cfg}", f"-Dkafka.logs.dir={paths(cfg)['logs']}",
            "-cp", f"{libs}/*", main, *args]


def format_storage(cfg: StackConfig, libs: Path) -> None:
    p = paths(cfg)
    if (p["data"] / "meta.properties").exists():
        return
    cmd = _java_cmd(cfg, libs, "kafka.tools.StorageTool", "format", "-t", _cluster_id(), "-c", str(p["config"]))
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise StackError(f"formatting Kafka storage in {p['data']} failed; delete that folder and retry:\n"
                         f"{result.stdout[-2000:]}{result.stderr[-2000:]}")


def start(cfg: StackConfig, libs: Path) -> int:
    p = paths(cfg)
    with open(p["out"], "ab") as out:
        proc = subprocess.Popen(_java_cmd(cfg, libs, "kafka.Kafka", str(p["config"])), stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    return proc.pid


async def answers(bootstrap: str, timeout_s: float = 3.0) -> bool:
    """True when a metadata request to the broker succeeds."""
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    if not port_open(int(port), host or "127.0.0.1"):  # spares aiokafka's connection-refused error logs
        return False
    from aiokafka import AIOKafkaClient  # noqa: PLC0415 - keep `kim --help` fast

    client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000))
    try:
        await asyncio.wait_for(client.bootstrap(), timeout_s)
        return bool(client.cluster.brokers())
    except Exception:  # noqa: BLE001 - any failure means "not yet"
        return False
    finally:
        await client.close()


async def wait_ready(cfg: StackConfig, pid: int | None, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await answers(cfg.bootstrap(), 2.0):
        if pid is not None and not is_alive(pid):
            raise StackError(f"Kafka exited during start-up; last lines of {paths(cfg)['out']} and "
                             f"{paths(cfg)['logs'] / 'server.log'}:\n{tail(paths(cfg)['out'])}\n"
                             f"{tail(paths(cfg)['logs'] / 'server.log')}")
        if time.monotonic() > deadline:
            raise StackError(f"Kafka at {cfg.bootstrap()} did not answer within {timeout_s:.0f} s; "
                             f"see {paths(cfg)['logs'] / 'server.log'}")
        await asyncio.sleep(0.25)
