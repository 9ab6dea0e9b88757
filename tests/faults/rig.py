"""The fault tier's rig: a private Kafka + PostgreSQL it may kill and restart, cases replicas and a consumer as real
processes, a steady load of commands, and the checks every fault must pass.

Everything it starts it stops by pid (the fixtures call `close`/`down` in `finally`); every server listens on
127.0.0.1 only. The checks, after the load stopped and the pipeline drained:
- lost: an acknowledged command whose event is not in the store, or a stored event that is not in Kafka, or one
  the consumer never handled;
- duplicates in Kafka: records with an event id seen before (a repeat is allowed only where the scenario killed a
  relay between publishing and marking sent);
- reorders: a record in Kafka after a newer version of its stream;
- double-applied: an event with more than one effect at the consumer;
- the next event: one more command after recovery is handled end to end.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx

from kim_cli import processes as procs
from kim_cli import stack_kafka, stack_postgres
from kim_cli.stack import StackConfig, create_database, ensure_up
from kim_cli.stack_procs import is_alive, terminate, write_pid
from kim_runtime import db
from kim_runtime.auth import Principal, Role, issue_token
from tests.e2e.support import end_offsets, read_topic
from tests.faults import recorder
from tests.polling import eventually
from tests.ports import free_port

LUENEN, TEAM = "05978024", "stadt-luenen"
TOPIC = recorder.TOPIC
CASES = 8  # streams under load
WORKERS = 4  # concurrent senders, each owning CASES / WORKERS streams
PAUSE_S = 0.03  # between two commands of one sender




class PrivateStack:
    """Kafka and PostgreSQL of this tier alone, under the repo's .cache (the postgres user must traverse it)."""

    def __init__(self, prefix: str = "faults-", **config) -> None:
        """`config`: StackConfig fields (ports, kafka_brokers); ports default to free ones."""
        root = StackConfig.from_env().cache_dir / "test-stacks"
        root.mkdir(parents=True, exist_ok=True)
        self.dir = Path(tempfile.mkdtemp(prefix=prefix, dir=root))
        self.dir.chmod(0o755)
        ports = {"kafka_port": free_port(), "kafka_controller_port": free_port(), "postgres_port": free_port()}
        self.cfg = StackConfig(stack_dir=self.dir, kafka_bootstrap=None, postgres_url=None, **(ports | config))
        self.pids: dict[str, int] = {}

    def _kafka(self, node: int) -> str:
        return "kafka" if self.cfg.kafka_brokers == 1 else f"kafka-{node}"

    def up(self) -> None:
        handle = ensure_up(self.cfg, log=lambda _msg: None)
        self.pids = {self._kafka(n): int(stack_kafka.paths(self.cfg, n)["pid"].read_text())
                     for n in stack_kafka.nodes(self.cfg)}
        self.pids["postgres"] = int(stack_postgres.paths(self.cfg)["pid"].read_text())
        assert set(self.pids.values()) == set(handle.started_pids)

    @property
    def bootstrap(self) -> str:
        return self.cfg.bootstrap()

    @property
    def admin_url(self) -> str:
        return self.cfg.admin_url()

    async def restart_postgres(self) -> None:
        """A fast shutdown (every session is terminated) and a start on the same data."""
        await asyncio.to_thread(terminate, [self.pids.pop("postgres")])
        self.pids["postgres"] = pid = stack_postgres.start(self.cfg)
        write_pid(stack_postgres.paths(self.cfg)["pid"], pid)
        await stack_postgres.wait_ready(self.cfg, pid)

    def kill_kafka(self, node: int = 1) -> None:
        pid = self.pids.pop(self._kafka(node))
        os.kill(pid, signal.SIGKILL)
        while is_alive(pid):
            time.sleep(0.05)

    async def start_kafka(self, node: int = 1) -> None:
        """Start the node again on its data; until every node is in the cluster's metadata."""
        libs = stack_kafka.ensure_jars(self.cfg)
        self.pids[self._kafka(node)] = pid = stack_kafka.start(self.cfg, libs, node)
        write_pid(stack_kafka.paths(self.cfg, node)["pid"], pid)
        await stack_kafka.wait_ready(self.cfg, None, pids={node: pid})

    def down(self) -> None:
        terminate(list(self.pids.values()))
        self.pids.clear()


@contextlib.contextmanager
def running(stack: PrivateStack) -> Iterator[PrivateStack]:
    """The stack up for a fixture's scope; stopped by pid and its folder removed after."""
    try:
        stack.up()
        yield stack
    finally:
        stack.down()
        shutil.rmtree(stack.dir, ignore_errors=True)


@dataclass
class Ack:
    case_id: str
    version: int
    at: float  # time.time() when the command was sent (so one sent after a fault began was handled after it)


@dataclass
class Fault:
    name: str
    injected: float
    ended: float = 0.0  # when the injected fault was over (server back, or the kill itself)


@dataclass
class Figures:
    commands: int
    lost: int
    duplicates: int
    reorders: int
    double_applied: int
    failover_s: float
    redelivered: int = 0  # records the consumer got again (absorbed by its inbox)
    answers: dict[str, int] = field(default_factory=dict)

    def line(self, fault: str) -> str:
        answers = " ".join(f"{k}={v}" for k, v in sorted(self.answers.items()))
        return (f"FAULT {fault}: commands sent={self.commands} lost={self.lost} duplicates in Kafka={self.duplicates} "
                f"reorders={self.reorders} double-applied={self.double_applied} failover={self.failover_s:.1f} s "
                f"redelivered to the consumer={self.redelivered} "
                f"(answers: {answers})")


class Rig:
    """One scenario: fresh databases, two cases replicas, the recording consumer, the load, the checks."""

    def __init__(self, stack: PrivateStack, logs: Path, *, replicas: int = 2, recorder_delay_ms: int = 0):
        self.stack, self.logs, self.replicas_wanted, self.delay_ms = stack, logs, replicas, recorder_delay_ms
        tag = uuid.uuid4().hex[:10]
        self.cases_db, self.recorder_db = f"faults_cases_{tag}", f"faults_recorder_{tag}"
        self.prefix = f"faults{tag}"
        self.secret = secrets.token_urlsafe(32)
        who = Principal(sub="lead-faults", role=Role.TEAM_LEAD, team=TEAM, municipality=LUENEN)
        self.auth = {"Authorization": f"Bearer {issue_token(self.secret, who)}"}
        self.replicas: list[procs.ServiceProcess] = []
        self.recorder: subprocess.Popen | None = None
        self.acks: list[Ack] = []
        self.answers: Counter[str] = Counter()
        self.readyz: Counter[str] = Counter()
        self.faults: list[Fault] = []
        self._managers = itertools.count()
        self._load: list[asyncio.Task] = []
        self._stop_load = asyncio.Event()
        self.case_ids: list[str] = []

    def url(self, name: str) -> str:
        return stack_postgres.database_url(self.stack.admin_url, name)

    # -- processes ----------------------------------------------------------------------------------------
    async def start(self) -> None:
        for name in (self.cases_db, self.recorder_db):
            await create_database(self.stack.admin_url, name)
        conn = await db.connect(self.url(self.recorder_db))
        try:
            await db.migrate(conn, [])
            await conn.execute(recorder.DDL)
        finally:
            await conn.close()
        await procs.skip_history(self.stack.bootstrap, {recorder.group_id(self.prefix): (TOPIC,)})
        self.start_offsets = await end_offsets(self.stack.bootstrap, TOPIC)
        for i in range(self.replicas_wanted):
            self.start_replica(i)
        await asyncio.to_thread(procs.wait_ready, self.replicas, 120)
        await self.start_recorder()
        self.http = httpx.AsyncClient(timeout=10)
        for _ in range(CASES):
            self.case_ids.append(await self.open_case())

    def start_replica(self, i: int) -> procs.ServiceProcess:
        port = free_port()
        env = procs.service_env(database_url=self.url(self.cases_db), port=port, kafka_bootstrap=self.stack.bootstrap,
                                auth_secret=self.secret, KIM_CONSUMER_GROUP_PREFIX=self.prefix)
        proc = procs.start_service("cases", port, env, self.logs / f"replica-{i}")
        self.replicas.append(proc)
        return proc

    async def start_recorder(self) -> None:
        """Start the consumer and return once it is connected to Kafka."""
        path = self.logs / "recorder.log"
        path.unlink(missing_ok=True)
        log = open(path, "ab")  # noqa: SIM115 - kept open by the child
        self.recorder = subprocess.Popen(
            [sys.executable, str(Path(recorder.__file__)), self.url(self.recorder_db), self.stack.bootstrap,
             self.prefix, str(self.delay_ms)], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, env=os.environ | {"PYTHONUNBUFFERED": "1"})
        log.close()

        async def ready() -> bool:
            assert self.recorder.poll() is None, f"the recorder exited: {path.read_text()[-2000:]}"
            return "ready" in path.read_text().splitlines()

        await eventually(ready, timeout=60, every=0.1)

    def kill_recorder(self) -> None:
        os.kill(self.recorder.pid, signal.SIGKILL)
        self.recorder.wait(timeout=10)

    async def leader(self) -> procs.ServiceProcess:
        """The replica whose relay holds the lease (its holder names the pid)."""
        async def holder() -> procs.ServiceProcess | None:
            row = await self.fetchrow(self.cases_db, "SELECT holder FROM relay_lease WHERE expires_at > now()")
            pid = int(row["holder"].split(":")[1]) if row else None
            return next((p for p in procs.alive(self.replicas) if p.pid == pid), None)

        return await eventually(holder, timeout=30, every=0.1)

    def kill(self, proc: procs.ServiceProcess) -> None:
        os.kill(proc.pid, signal.SIGKILL)
        proc.popen.wait(timeout=10)

    async def close(self) -> None:
        self._stop_load.set()
        for task in self._load:
            task.cancel()
        await asyncio.gather(*self._load, return_exceptions=True)
        if getattr(self, "http", None):
            await self.http.aclose()
        await asyncio.to_thread(procs.stop_services, self.replicas)
        if self.recorder is not None:
            await asyncio.to_thread(terminate, [self.recorder.pid])
            self.recorder.wait(timeout=10)

    # -- commands -----------------------------------------------------------------------------------------
    async def send(self, method: str, path: str, body: dict) -> httpx.Response | None:
        """Send to the replicas in turn until one answers; None when none did. Records each answer's status."""
        live = procs.alive(self.replicas)
        start = next(self._managers) % max(len(live), 1)
        for proc in live[start:] + live[:start]:
            try:
                r = await self.http.request(method, proc.url + path, json=body, headers=self.auth)
            except httpx.TransportError:
                self.answers["unreachable"] += 1
                continue
            self.answers[str(r.status_code)] += 1
            if r.status_code == 503 and "Retry-After" not in r.headers:
                self.answers["503 without Retry-After"] += 1
            if r.status_code < 500:
                return r
        return None

    async def until_done(self, method: str, path: str, body: dict, expect: int) -> httpx.Response:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            r = await self.send(method, path, body)
            if r is not None:
                assert r.status_code == expect, f"{method} {path}: {r.status_code} {r.text}"
                return r
            await asyncio.sleep(0.2)
        raise AssertionError(f"{method} {path}: no replica answered within 60 s")

    async def open_case(self) -> str:
        client = await self.until_done("POST", "/clients", {"name": "Faults Client", "birth_year": 1990}, 201)
        case = await self.until_done("POST", "/cases", {
            "client_id": client.json()["client_id"], "municipality": LUENEN, "team": "stadt",
            "team_organisation_id": TEAM, "access_channel": "jobcenter"}, 201)
        return case.json()["case_id"]

    async def transfer(self, case_id: str) -> Ack | None:
        body = {"municipality": LUENEN, "team": "stadt", "team_organisation_id": TEAM,
                "case_manager_id": f"cm-{next(self._managers)}"}
        sent = time.time()
        r = await self.send("POST", f"/cases/{case_id}/transfer", body)
        if r is None:
            return None
        if r.status_code == 409 and "nothing to transfer" in r.text:
            return None  # an attempt that got no answer (or a 503) was applied after all: not acknowledged
        assert r.status_code == 200, f"transfer: {r.status_code} {r.text}"
        ack = Ack(case_id, int(r.headers["ETag"].strip('"')), sent)
        self.acks.append(ack)
        return ack

    def start_load(self) -> None:
        self._stop_load.clear()
        for w in range(WORKERS):
            self._load.append(asyncio.create_task(self._sender(self.case_ids[w::WORKERS])))
        self._load.append(asyncio.create_task(self._readiness_sampler()))

    async def _readiness_sampler(self) -> None:
        """What /readyz said on each live replica, every 0.2 s while the load runs."""
        while not self._stop_load.is_set():
            for status, body, retry_after in await self.readiness():
                self.readyz[str(status)] += 1
                if status == 503:
                    self.readyz["503 without Retry-After"] += retry_after is None
                    for check, answer in body.get("checks", {}).items():
                        self.readyz[f"503 {check} down"] += answer != "ok"
            await asyncio.sleep(0.2)

    async def readiness(self) -> list[tuple[int, dict, str | None]]:
        answers = []
        for proc in procs.alive(self.replicas):
            try:
                r = await self.http.get(f"{proc.url}/readyz", timeout=5)
            except httpx.TransportError:
                continue
            answers.append((r.status_code, r.json(), r.headers.get("Retry-After")))
        return answers

    async def metric(self, proc: procs.ServiceProcess, name: str) -> float | None:
        """A sample of the replica's /metrics for service cases, e.g. metric(p, "kim_relay_leader")."""
        text = (await self.http.get(f"{proc.url}/metrics")).text
        prefix = f'{name}{{service="cases"}} '
        return next((float(line.removeprefix(prefix)) for line in text.splitlines() if line.startswith(prefix)), None)

    async def _sender(self, cases: list[str]) -> None:
        while not self._stop_load.is_set():
            for case_id in cases:
                if await self.transfer(case_id) is None:
                    await asyncio.sleep(0.2)  # nobody answered: as a client honouring Retry-After would, wait
                await asyncio.sleep(PAUSE_S)

    async def stop_load(self) -> None:
        self._stop_load.set()
        await asyncio.gather(*self._load)
        self._load.clear()

    def fault(self, name: str) -> Fault:
        fault = Fault(name, time.time())
        self.faults.append(fault)
        return fault

    # -- checks -------------------------------------------------------------------------------------------
    async def fetch(self, database: str, sql: str, *args) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.url(database))
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()

    async def fetchrow(self, database: str, sql: str, *args) -> asyncpg.Record | None:
        rows = await self.fetch(database, sql, *args)
        return rows[0] if rows else None

    async def backlog(self) -> int:
        """Events stored but not handled yet by the consumer."""
        stored = await self.fetchrow(self.cases_db, "SELECT count(*) AS n FROM outbox")
        handled = await self.fetchrow(self.recorder_db, "SELECT count(DISTINCT event_id) AS n FROM effects")
        return stored["n"] - handled["n"]

    async def redeliveries(self) -> int:
        """Records the consumer got more than once (its inbox must have absorbed them)."""
        row = await self.fetchrow(self.recorder_db, 'SELECT count(*) - count(DISTINCT (partition, "offset")) AS n '
                                  "FROM deliveries")
        return row["n"]

    async def next_event_handled(self) -> Ack:
        """One more command after recovery, handled end to end."""
        ack = None
        while ack is None:
            ack = await self.transfer(self.case_ids[0])
        await eventually(lambda: self._effect_of(ack), timeout=90, every=0.1)
        return ack

    async def _effect_of(self, ack: Ack):
        return await self.fetchrow(self.recorder_db, "SELECT handled_at FROM effects WHERE stream_id = $1 AND "
                                   "version = $2", ack.case_id, ack.version)

    async def drained(self) -> None:
        """Wait until every stored event is published and handled."""
        async def done():
            unsent = await self.fetchrow(self.cases_db, "SELECT count(*) AS n FROM outbox WHERE sent_at IS NULL")
            return unsent["n"] == 0 and await self.backlog() <= 0

        await eventually(done, timeout=120, every=0.1)

    async def figures(self, fault: Fault) -> Figures:
        stored = await self.fetch(self.cases_db, "SELECT e.event_id, e.stream_id, e.version FROM events e "
                                  "JOIN outbox USING (position)")
        effects = await self.fetch(self.recorder_db, "SELECT event_id, stream_id, version, handled_at FROM effects")
        records = await read_topic(self.stack.bootstrap, TOPIC, self.start_offsets)
        in_store = {(r["stream_id"], r["version"]) for r in stored}
        stored_ids = {r["event_id"] for r in stored}
        seen: set[str] = set()
        newest: dict[bytes, int] = {}
        duplicates = reorders = 0
        for rec in sorted(records, key=lambda r: (r.partition, r.offset)):
            headers = dict(rec.headers)
            event_id, version = headers["ce_id"].decode(), int(headers["ce_streamversion"])
            mine = self.fault_at(rec.timestamp / 1000) is fault  # a repeat or reorder counts for the fault before it
            duplicates += mine and event_id in seen
            reorders += mine and version < newest.get(rec.key, 0)
            seen.add(event_id)
            newest[rec.key] = max(version, newest.get(rec.key, 0))
        handled = Counter(str(r["event_id"]) for r in effects)
        lost = (sum((a.case_id, a.version) not in in_store for a in self.acks)
                + len({str(i) for i in stored_ids} - seen) + len({str(i) for i in stored_ids} - set(handled)))
        return Figures(commands=len(self.acks), lost=lost, duplicates=duplicates, reorders=reorders,
                       double_applied=sum(n - 1 for n in handled.values()),
                       failover_s=self.failover(effects, fault), redelivered=await self.redeliveries(),
                       answers=dict(self.answers))

    def fault_at(self, at: float) -> Fault:
        """The last fault injected before `at` (the first one for anything earlier)."""
        return max((f for f in self.faults if f.injected <= at), key=lambda f: f.injected, default=self.faults[0])

    def failover(self, effects: list[asyncpg.Record], fault: Fault) -> float:
        """Seconds from the end of the fault until the first command sent after it began was handled."""
        later = [f.injected for f in self.faults if f.injected > fault.injected]
        until = min(later, default=float("inf"))
        handled_at = {(r["stream_id"], r["version"]): r["handled_at"].timestamp() for r in effects}
        after = [handled_at[(a.case_id, a.version)] for a in self.acks
                 if fault.injected <= a.at < until and (a.case_id, a.version) in handled_at]
        return max(min(after) - fault.ended, 0.0) if after else float("nan")

