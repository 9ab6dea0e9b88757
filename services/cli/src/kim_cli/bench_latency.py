"""`kim bench latency`: an open-loop benchmark against a running KIM Hub (or one it starts and stops itself).

Commands go out on a fixed schedule (one asyncio task per scheduled send, whatever the server answers), in the mix
of a case's life: register client, open case, consent, assessment, referral (to the Jobcenter), closure. Each slot
takes the next step of a case that is ready for it (the mix's stage in turn, else any ready case, else a new
client), so the rate holds however slowly answers come. Per rate: achieved rate, errors by status, HTTP
p50/p90/p99 and "accepted → visible" latencies: the case in the reporting projection (reporting_cases.cases) and in
staffing's caseload (caseload.caseload_cases), both read from the services' databases, and the referral on the partner
topic (its record key is the partner's referral id). Also: idle CPU of each process over 30 s at rest, and the
write path (POST /clients, closed loop) against a minimal FastAPI + asyncpg endpoint inserting one row per request,
measured before the steps on a system at rest. Requests go through kim_cli.bench_http (not httpx, whose pool was the
bottleneck).
"""

from __future__ import annotations

import asyncio
import itertools
import math
import os
import subprocess
import sys
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import asyncpg
import httpx
from tqdm import tqdm

from kim_cli.demo.api import Api, manager
from kim_cli.demo.data import JOBCENTER, PARTNER
from kim_cli.demo.plans import plan_clients

STAGES = ("client", "case", "consent", "assessment", "referral", "closure")
POLL_S = 0.02
DRAIN_S = 15.0
HTTP_TIMEOUT_S = 30.0
SETTLE_S = 20.0
VIEWS = {"reporting": ("kim_reporting", "SELECT case_id FROM reporting_cases.cases WHERE case_id = ANY($1)"),
         "staffing": ("kim_staffing", "SELECT case_id FROM caseload.caseload_cases WHERE case_id = ANY($1)")}


def _own_cpu() -> float:
    t = os.times()
    return t.user + t.system


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]  # nearest rank


def ms(values: list[float], *qs: int) -> dict[str, float | None]:
    return {f"p{q}": (None if (v := percentile(values, q)) is None else round(v * 1000, 1)) for q in qs}


@dataclass
class Flow:
    """One case moving through the mix."""

    plan: object
    client_id: str = ""
    case_id: str = ""
    consent_id: str = ""
    stage: int = 0

    @property
    def who(self):
        return manager(self.plan.case_manager, self.plan.team, self.plan.municipality)


@dataclass
class Step:
    """What one rate's step measured."""

    rate: int
    seconds: float
    sent: int = 0
    statuses: Counter = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    by_command: Counter = field(default_factory=Counter)
    settle_retries: int = 0
    own_cpu_percent: float = 0.0  # this benchmark's process (it shares the machine with what it measures)
    cpu_percent: dict[str, float] = field(default_factory=dict)  # each process (summed per name) under load
    accepted: dict[str, dict[str, float]] = field(default_factory=lambda: {v: {} for v in (*VIEWS, "partner")})
    visible: dict[str, dict[str, float]] = field(default_factory=lambda: {v: {} for v in (*VIEWS, "partner")})

    def summary(self) -> dict:
        ok = sum(n for s, n in self.statuses.items() if 200 <= s < 300)
        out = {"rate": self.rate, "seconds": self.seconds, "sent": self.sent,
               "achieved_per_s": round(self.sent / self.seconds, 1), "accepted": ok,
               "unanswered": self.sent - sum(self.statuses.values()),
               "errors": {str(s): n for s, n in sorted(self.statuses.items()) if not 200 <= s < 300},
               "commands": dict(self.by_command), "referral_settle_retries": self.settle_retries,
               "bench_cpu_percent": self.own_cpu_percent, "cpu_percent": self.cpu_percent,
               "http_ms": ms(self.latencies, 50, 90, 99), "visible_ms": {}}
        for view, accepted in self.accepted.items():
            # a record may reach the partner topic before its HTTP answer reaches us: counted as 0
            lags = [max(0.0, self.visible[view][k] - t) for k, t in accepted.items() if k in self.visible[view]]
            out["visible_ms"][view] = {**ms(lags, 50, 99), "count": len(lags), "missing": len(accepted) - len(lags)}
        return out


class Load:
    """The open-loop sender and the watchers of the three views."""

    def __init__(self, api: Api, urls: dict[str, str], dbs: dict[str, str], bootstrap: str,
                 scan: Callable[[], dict[int, str]] = dict, kafka_options: dict | None = None):
        self.api, self.urls, self.dbs, self.bootstrap, self.scan = api, urls, dbs, bootstrap, scan
        self.kafka_options = kafka_options or {}  # the admin's login on the secure broker of `kim run`
        self.plans = itertools.cycle(plan_clients(200, seed=7))
        self.ready: dict[int, deque[Flow]] = {i: deque() for i in range(1, len(STAGES))}
        self.step: Step | None = None
        self.pending: dict[str, dict[str, Step]] = {v: {} for v in (*VIEWS, "partner")}
        self.seen_keys: dict[str, float] = {}
        self.tasks: set[asyncio.Task] = set()
        self.today = date.today().isoformat()

    def _pick(self, slot: int) -> Flow:
        want = slot % len(STAGES)  # the mix: one of each stage in turn
        if want and self.ready[want]:
            return self.ready[want].popleft()
        for stage in range(len(STAGES) - 1, 0, -1):
            if self.ready[stage]:
                return self.ready[stage].popleft()
        return Flow(next(self.plans))

    def _request(self, flow: Flow) -> tuple[str, str, str, dict | None]:
        p, stage = PARTNER[JOBCENTER], STAGES[flow.stage]
        if stage == "client":
            return "cases", "POST", "/clients", flow.plan.person.body()
        if stage == "case":
            return "cases", "POST", "/cases", {"client_id": flow.client_id, **flow.plan.open_body(),
                                               "opened_on": self.today}
        base = f"/cases/{flow.case_id}"
        if stage == "consent":
            return "cases", "POST", f"{base}/consents", {
                "recipients": [JOBCENTER], "purposes": [p.purpose], "data_categories": sorted({*p.categories}),
                "form": "schriftlich", "informed_in": "de", "granted_on": self.today, "valid_until": None}
        if stage == "assessment":
            return "cases", "POST", f"{base}/assessment", {
                "assessed_on": self.today, "rechtskreis": "SGB_II",
                "domains": [{"domain": "arbeit", "need": "hoch", "resources": "mittel"}]}
        if stage == "referral":
            return "referrals", "POST", "/referrals", {
                "case_id": flow.case_id, "to_organisation_id": JOBCENTER, "purpose": p.purpose,
                "data_categories": list(p.categories), "due_on": (date.today() + timedelta(days=30)).isoformat()}
        return "cases", "POST", f"{base}/closure", {"reason": "kontakt_verloren", "closed_on": self.today}

    async def _send(self, flow: Flow, step: Step | None) -> None:
        service, method, path, body = self._request(flow)
        stage = STAGES[flow.stage]
        deadline = time.monotonic() + SETTLE_S
        # one Idempotency-Key per command, kept across its retries (as a client should): the figures include it
        headers = self.api.headers(flow.who) | {"Idempotency-Key": str(uuid.uuid4())}
        while True:
            started = time.monotonic()
            try:
                r = await self.api.client.request(method, self.urls[service] + path, json=body, headers=headers)
                status = r.status_code
            except httpx.HTTPError:
                status, r = 599, None
            elapsed, done = time.monotonic() - started, time.monotonic()
            # the referrals service learns of the case and its consent over Kafka: "not known yet" is retried
            if stage == "referral" and status in (404, 409) and done < deadline:
                if step:
                    step.settle_retries += 1
                await asyncio.sleep(0.05)
                # a refusal was answered (and, for a missing consent, recorded: its answer is kept for the key and
                # replayed to a retry with it): trying again once the consent has arrived is a new request
                headers = headers | {"Idempotency-Key": str(uuid.uuid4())}
                continue
            break
        if step:
            step.statuses[status] += 1
            step.latencies.append(elapsed)
            step.by_command[stage] += 1
        if not 200 <= status < 300:
            return  # the case's flow ends here
        answer = r.json()
        if stage == "client":
            flow.client_id = answer["client_id"]
        elif stage == "case":
            flow.case_id = answer["case_id"]
            self._watch(("reporting", "staffing"), flow.case_id, done, step)
        elif stage == "consent":
            flow.consent_id = answer["consent_id"]
        elif stage == "referral":
            self._watch(("partner",), answer["partner_referral_id"], done, step)
        flow.stage += 1
        if flow.stage < len(STAGES):
            self.ready[flow.stage].append(flow)

    def _watch(self, views: tuple[str, ...], key: str, accepted_at: float, step: Step | None) -> None:
        for view in views:
            if step:
                step.accepted[view][key] = accepted_at
                self.pending[view][key] = step
                if view == "partner" and key in self.seen_keys:
                    self._seen(view, key, self.seen_keys[key])

    def _seen(self, view: str, key: str, at: float) -> None:
        step = self.pending[view].pop(key, None)
        if step is not None:
            step.visible[view][key] = at

    async def run_step(self, rate: int, seconds: float, step: Step | None, label: str) -> None:
        slots = int(rate * seconds)
        pids = self.scan()  # PostgreSQL's backends come and go
        t0, cpu0, ticks = time.monotonic(), _own_cpu(), {p: cpu_ticks(p) for p in pids}
        with tqdm(total=round(seconds), desc=label, unit="s", leave=False, dynamic_ncols=True,
                  bar_format="{desc} {bar} {n_fmt}/{total_fmt} s, {remaining} left {postfix}") as bar:
            for slot in range(slots):
                due = t0 + slot / rate
                if (wait := due - time.monotonic()) > 0:
                    await asyncio.sleep(wait)
                task = asyncio.create_task(self._send(self._pick(slot), step))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
                if step:
                    step.sent += 1
                if (now := int(time.monotonic() - t0)) > bar.n:
                    bar.update(now - bar.n)
                    bar.set_postfix_str(f"{slot / max(time.monotonic() - t0, 1e-3):.0f} cmd/s sent, "
                                        f"{len(self.tasks)} in flight")
            # the step lasts its `seconds`: the last slot is sent at (slots - 1) / rate, not at the end (1 cmd/s for
            # 1 s sends its one command at once, and a step of ~0 s divided rates and CPU by zero)
            if (rest := t0 + seconds - time.monotonic()) > 0:
                await asyncio.sleep(rest)
        if step:
            step.seconds = max(round(time.monotonic() - t0, 2), 0.01)
            step.own_cpu_percent = round((_own_cpu() - cpu0) * 100 / step.seconds, 1)
            step.cpu_percent = cpu_percent(pids, ticks, step.seconds)

    async def drain(self) -> None:
        """Wait for answers in flight, then (a while) for what was accepted to become visible."""
        if self.tasks:
            # every send ends: answered, timed out (599) or given up settling; the next step starts clean
            await asyncio.wait(list(self.tasks), timeout=2 * HTTP_TIMEOUT_S + SETTLE_S)
        deadline = time.monotonic() + DRAIN_S
        while any(self.pending.values()) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        for view in self.pending.values():
            view.clear()
        for queue in self.ready.values():
            queue.clear()

    async def poll_view(self, view: str) -> None:
        database, query = VIEWS[view]
        conn = await asyncpg.connect(self.dbs[database])
        try:
            while True:
                keys = list(self.pending[view])
                if keys:
                    rows = await conn.fetch(query, keys)
                    now = time.monotonic()
                    for row in rows:
                        self._seen(view, row["case_id"], now)
                await asyncio.sleep(POLL_S)
        finally:
            await conn.close()

    async def consume_partner_topic(self) -> None:
        from aiokafka import AIOKafkaConsumer

        consumer = AIOKafkaConsumer(f"kim.partner.{JOBCENTER}", bootstrap_servers=self.bootstrap,
                                    group_id=f"kim-bench-{os.getpid()}-{time.time_ns()}",
                                    auto_offset_reset="latest", enable_auto_commit=False, metadata_max_age_ms=500,
                                    **self.kafka_options)
        await consumer.start()
        try:
            async for record in consumer:
                key, now = (record.key or b"").decode(), time.monotonic()
                self.seen_keys.setdefault(key, now)
                self._seen("partner", key, now)
        finally:
            await consumer.stop()


async def write_path_ratio(urls: dict[str, str], api: Api, baseline_url: str, seconds: float,
                           concurrency: int = 16) -> dict:
    """Closed loop, `concurrency` senders: POST /clients at cases against POST /rows at the minimal app.

    Run on a quiet system: before the load steps (their backlog would otherwise still be in flight), after the idle
    measurement; the result says so (`measured`) with the load average of that moment."""
    plans = itertools.cycle(plan_clients(50, seed=11))

    async def drive(url: str, make) -> dict:
        latencies, statuses, stop_at = [], Counter(), time.monotonic() + seconds

        async def sender() -> None:
            while time.monotonic() < stop_at:
                who, body = make()
                started = time.monotonic()
                try:
                    headers = (api.headers(who) if who else {}) | {"Idempotency-Key": str(uuid.uuid4())}
                    r = await api.client.post(url, json=body, headers=headers)
                    statuses[r.status_code] += 1
                except httpx.HTTPError:
                    statuses[599] += 1
                latencies.append(time.monotonic() - started)

        await asyncio.gather(*(sender() for _ in range(concurrency)))
        ok = sum(n for s, n in statuses.items() if 200 <= s < 300)
        return {"per_s": round(ok / seconds, 1), "errors": sum(statuses.values()) - ok, **ms(latencies, 50, 99)}

    def kim_body():
        plan = next(plans)
        return manager(plan.case_manager, plan.team, plan.municipality), plan.person.body()

    kim = await drive(urls["cases"] + "/clients", kim_body)
    raw = await drive(baseline_url + "/rows", lambda: (None, next(plans).person.body()))
    return {"endpoint": "POST /clients", "concurrency": concurrency, "seconds": seconds,
            "measured": "before the load steps, the system at rest", "load_average": list(os.getloadavg()), "kim": kim,
            "minimal_fastapi_asyncpg": raw, "ratio": round(kim["per_s"] / raw["per_s"], 3) if raw["per_s"] else None}


def start_baseline(dsn: str, port: int, log: Path) -> subprocess.Popen:
    env = dict(os.environ, KIM_BENCH_BASELINE_DSN=dsn, KIM_BENCH_BASELINE_PORT=str(port))
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "kim_cli.bench_baseline"], env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)


def process_pids(service_ports: dict[str, int], marks: list[str]) -> dict[int, str]:
    """{pid: name} of the services on those ports, and Kafka and PostgreSQL processes whose command line or
    environment names one of the marks (the stack's directory, its Kafka port)."""
    found: dict[int, str] = {}
    for d in Path("/proc").glob("[0-9]*"):
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            environ = (d / "environ").read_bytes().decode(errors="replace")
        except OSError:
            continue
        for name, port in service_ports.items():
            if f"-m kim_{name}" in cmd and f"KIM_HTTP_PORT={port}\0" in environ:
                found[int(d.name)] = name
        if "kafka.Kafka" in cmd and any(m in cmd for m in marks):
            found[int(d.name)] = "kafka"
        elif _is_postgres(cmd) and any(m in cmd or m in environ for m in marks):
            found[int(d.name)] = "postgres"
    postmasters = {p for p, n in found.items() if n == "postgres"}
    for d in Path("/proc").glob("[0-9]*"):  # backends and helpers: retitled, but children of the postmaster
        try:
            if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) in postmasters:
                found[int(d.name)] = "postgres"
        except (OSError, ValueError, IndexError):
            continue
    return found


def _is_postgres(cmd: str) -> bool:
    first = cmd.split(" ", 1)[0]
    return first == "postgres" or first.endswith("/postgres") or cmd.startswith("postgres:")


def cpu_ticks(pid: int) -> int | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[11]) + int(fields[12])  # utime + stime (fields 14 and 15 of stat)


async def idle_cpu(pids: dict[int, str], seconds: float) -> dict[str, float]:
    """% of a core each process (summed per name) used over `seconds` at rest."""
    before = {p: cpu_ticks(p) for p in pids}
    await asyncio.sleep(seconds)
    return cpu_percent(pids, before, seconds)


def cpu_percent(pids: dict[int, str], before: dict[int, int | None], seconds: float) -> dict[str, float]:
    """% of a core each name's processes used since `before` (ticks per pid), `seconds` ago."""
    totals: Counter = Counter()
    for pid, name in pids.items():
        after = cpu_ticks(pid)
        if after is not None and before[pid] is not None:
            totals[name] += after - before[pid]
    tick = os.sysconf("SC_CLK_TCK")
    return {name: round(totals[name] * 100 / tick / seconds, 2) for name in sorted(set(pids.values()))}


def table(result: dict) -> str:
    def f(v) -> str:
        return "-" if v is None else f"{v:g}"

    head = (f"{'rate':>5} {'achieved':>8} {'sent':>6} {'ok':>6} {'errors':<14} {'http p50':>8} {'p90':>7} {'p99':>7}  "
            f"{'reporting p50/p99':>17}  {'staffing p50/p99':>16}  {'partner p50/p99':>15}")
    lines = ["open loop, latencies in ms; visible = accepted (2xx answer) → seen in the view; errors by status "
             "(599: no answer within 30 s, none: still unanswered at the end)", head, "-" * len(head)]
    for s in result["steps"]:
        v = s["visible_ms"]
        errs = ",".join([f"{k}:{n}" for k, n in s["errors"].items()]
                        + ([f"none:{s['unanswered']}"] if s["unanswered"] else [])) or "0"

        def vis(name: str) -> str:
            x = v[name]
            return f"{f(x['p50'])}/{f(x['p99'])}" + (f" ({x['missing']} unseen)" if x["missing"] else "")

        lines.append(f"{s['rate']:>5} {s['achieved_per_s']:>8} {s['sent']:>6} {s['accepted']:>6} {errs:<14} "
                     f"{f(s['http_ms']['p50']):>8} {f(s['http_ms']['p90']):>7} {f(s['http_ms']['p99']):>7}  "
                     f"{vis('reporting'):>17}  {vis('staffing'):>16}  {vis('partner'):>15}")
    for s in result["steps"]:
        used = {**s["cpu_percent"], "bench": s["bench_cpu_percent"]}
        lines.append(f"CPU at {s['rate']} cmd/s (% of a core): " + ", ".join(f"{k} {v:g}" for k, v in used.items()))
    if result.get("idle_cpu_percent"):
        lines += ["", f"idle CPU over {result['idle_seconds']:g} s (% of a core): "
                  + ", ".join(f"{k} {v:g}" for k, v in result["idle_cpu_percent"].items())]
    if (w := result.get("write_path")) is not None:
        lines += [f"write path {w['endpoint']} ({w['concurrency']} senders, {w['seconds']:g} s, "
                  f"{w.get('measured', 'after the steps')}): "
                  f"{w['kim']['per_s']:g}/s (p50 {f(w['kim']['p50'])} ms) vs minimal FastAPI + asyncpg insert "
                  f"{w['minimal_fastapi_asyncpg']['per_s']:g}/s (p50 {f(w['minimal_fastapi_asyncpg']['p50'])} ms): "
                  f"ratio {f(w['ratio'])}"]
    return "\n".join(lines)
