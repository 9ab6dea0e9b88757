"""`kim bench`: benchmarks that print figures (never run inside the tests). store: the event store's append;
replay: a projection rebuild from Kafka against a raw consumer; keys: `kim keys rotate` re-wrapping N data keys."""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import time

import typer

from kim_cli.bench_keys import keys

app = typer.Typer(no_args_is_help=True)
app.command("keys")(keys)

try:
    from kim_cli.bench_store import store
except ImportError:  # the store benchmark is optional
    store = None
if store is not None:
    app.command("store")(store)


async def _bench(bootstrap: str, admin_url: str, database_url, events: int, partitions: int, batch: int) -> dict:
    from kim_cli.audit import bench_replay as b
    from kim_cli.stack import create_database, drop_database

    topic, name = f"kim.bench.replay.{os.getpid()}.{int(time.time())}", f"kim_bench_replay_{os.getpid()}"
    await create_database(admin_url, name)
    try:
        produced_s = await b.produce(bootstrap, topic, events, partitions)
        typer.echo(f"produced {events:,} events to {topic} in {produced_s:.1f} s ({events / produced_s:,.0f}/s)")
        raw_count, raw_s = await b.consume_raw(bootstrap, topic, events)
        typer.echo(f"raw aiokafka consumer: {raw_count:,} records in {raw_s:.1f} s ({raw_count / raw_s:,.0f} events/s)")
        counted, replay_s = await b.replay(bootstrap, database_url(name), topic, batch)
        typer.echo(f"replay (rebuild_from_kafka): {counted:,} events in {replay_s:.1f} s "
                   f"({counted / replay_s:,.0f} events/s)")
    finally:
        await drop_database(admin_url, name)
        await b.delete_topic(bootstrap, topic)
    raw_rate, replay_rate = raw_count / raw_s, counted / replay_s
    return {"benchmark": "replay", "events": events, "partitions": partitions, "batch_size": batch,
            "produce_events_per_s": round(events / produced_s), "raw_consumer_events_per_s": round(raw_rate),
            "replay_events_per_s": round(replay_rate), "replay_to_raw_ratio": round(replay_rate / raw_rate, 3),
            "replay_seconds": round(replay_s, 2), "replayed_all": counted == events, "target_events_per_s": b.TARGET,
            "target_met": replay_rate >= b.TARGET}


@app.command("replay")
def replay(
    events: int = typer.Option(1_000_000, min=1, help="events to produce and replay"),
    partitions: int = typer.Option(3, min=1, help="partitions of the fresh topic"),
    batch_size: int = typer.Option(5000, min=1, help="events per rebuild transaction"),
) -> None:
    """Replay N events from a fresh topic into a counting projection, against a raw consumer of the same topic."""
    from kim_cli.stack import StackConfig, ensure_up, stop

    handle = ensure_up(StackConfig.from_env(), log=lambda m: typer.echo(m, err=True))
    try:
        summary = asyncio.run(_bench(handle.kafka_bootstrap, handle.postgres_url, handle.database_url, events,
                                     partitions, batch_size))
    finally:
        stop(handle)
    typer.echo(f"replay {summary['replay_events_per_s']:,}/s vs raw consumer {summary['raw_consumer_events_per_s']:,}/s:"
               f" ratio {summary['replay_to_raw_ratio']:.2f}; target {summary['target_events_per_s']:,} events/s "
               f"{'met' if summary['target_met'] else 'NOT met'}")
    typer.echo(json.dumps(summary))



async def _latency(urls: dict[str, str], secret: str, handle, marks: list[str], rates: list[int], seconds: float,
                   warmup: float, idle_seconds: float, ratio_seconds: float, baseline_url: str) -> dict:
    from kim_cli import bench_latency as bl
    from kim_cli.bench_http import BenchClient
    from kim_cli.demo.api import Api, DemoError
    from kim_cli.demo.organisation import seed_organisation

    # not httpx: its connection pool, not the services, was the queue at 100 cmd/s (kim_cli.bench_http)
    async with BenchClient(timeout=bl.HTTP_TIMEOUT_S, max_connections=400) as http:
        api = Api(urls, secret, http)
        try:  # the partner and the positions the commands name (409: there already)
            await seed_organisation(api, datetime.date.today(), lambda: None)
        except DemoError as exc:
            typer.echo(f"note: the organisation was not (fully) seeded: {exc}", err=True)
        ports = {name: int(url.rsplit(":", 1)[1]) for name, url in urls.items()}
        pids = bl.process_pids(ports, marks)
        typer.echo(f"idle CPU: {idle_seconds:g} s at rest ({len(pids)} processes)", err=True)
        idle = await bl.idle_cpu(pids, idle_seconds) if idle_seconds else {}
        # before any step: after them, the last step's backlog would still be in flight and the ratio meaningless
        write_path = await bl.write_path_ratio(urls, api, baseline_url, ratio_seconds) if ratio_seconds else None
        load = bl.Load(api, urls, {db: handle.database_url(db) for db, _ in bl.VIEWS.values()},
                       handle.kafka_bootstrap, lambda: bl.process_pids(ports, marks), kafka_options=handle.kafka_options)
        watchers = [asyncio.create_task(load.poll_view(v)) for v in bl.VIEWS]
        watchers.append(asyncio.create_task(load.consume_partner_topic()))
        steps = []
        try:
            if warmup:
                await load.run_step(rates[0], warmup, None, f"warm-up {rates[0]} cmd/s")
                await load.drain()
            for rate in rates:
                step = bl.Step(rate, seconds)
                await load.run_step(rate, seconds, step, f"{rate} cmd/s")
                await load.drain()
                steps.append(step.summary())
                typer.echo(f"{rate} cmd/s: {steps[-1]['achieved_per_s']}/s sent, {steps[-1]['accepted']} accepted",
                           err=True)
        finally:
            for w in watchers:
                w.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)
    return {"benchmark": "latency", "rates": rates, "seconds": seconds, "warmup": warmup, "steps": steps,
            "idle_seconds": idle_seconds, "idle_cpu_percent": idle, "write_path": write_path,
            "load_average": list(os.getloadavg())}


@app.command("latency")
def latency(
    rates: str = typer.Option("50,100,200,300", help="command rates (cmd/s), one step each, comma-separated"),
    seconds: float = typer.Option(60, min=1, help="seconds per step"),
    warmup: float = typer.Option(10, min=0, help="seconds at the first rate before measuring (0: none)"),
    idle_seconds: float = typer.Option(30, min=0, help="seconds of idle CPU measurement at rest (0: skip)"),
    ratio_seconds: float = typer.Option(10, min=0, help="seconds per side of the write-path comparison (0: skip)"),
    base_port: int = typer.Option(8001, envvar="KIM_RUN_BASE_PORT",
                                  help="cases on it, staffing +1, referrals +2, reporting +3 (as `kim run`)"),
) -> None:
    """Open-loop latency at stepped rates against a running KIM Hub (`kim run`), or one started (and stopped) here."""
    import httpx

    from kim_cli import bench_latency as bl
    from kim_cli import processes as procs
    from kim_cli.run_cmd import start_all
    from kim_cli.stack import create_database, drop_database, ensure_up, stop
    from kim_cli.stack_cmd import _config

    try:
        steps = [int(r) for r in rates.split(",") if r.strip()]
    except ValueError as exc:
        raise typer.BadParameter("whole numbers separated by commas, e.g. 50,100,200", param_hint="--rates") from exc
    if not steps or min(steps) < 1:
        raise typer.BadParameter("at least one rate, each at least 1", param_hint="--rates")
    cfg = _config()
    urls = {name: f"http://127.0.0.1:{base_port + i}" for i, name in enumerate(procs.SERVICES)}
    handle = ensure_up(cfg, log=lambda m: typer.echo(m, err=True))
    started, baseline, name = [], [], f"kim_bench_baseline_{os.getpid()}"
    try:
        secrets = procs.secrets(cfg.dir)
        with httpx.Client() as client:
            running = all(procs.ready(procs.ServiceProcess(n, int(u.rsplit(":", 1)[1]), None, None), client)
                          for n, u in urls.items())
        if not running:
            typer.echo(f"no KIM Hub answers on {base_port}..{base_port + 3}: starting one", err=True)
            started = start_all(handle, base_port, secrets)
        asyncio.run(create_database(handle.postgres_url, name))
        port = _free_port()
        cfg.logs_dir.mkdir(parents=True, exist_ok=True)
        log = cfg.logs_dir / "bench-baseline.log"
        baseline = [procs.ServiceProcess("baseline", port, bl.start_baseline(handle.database_url(name), port, log),
                                         log)]
        procs.wait_ready(baseline)
        result = asyncio.run(_latency(urls, secrets["auth_secret"], handle, [str(cfg.dir), str(cfg.kafka_port)],
                                      steps, seconds, warmup, idle_seconds, ratio_seconds, baseline[0].url))
    finally:
        procs.stop_services(baseline + started)
        if baseline:
            asyncio.run(drop_database(handle.postgres_url, name))
        stop(handle)
    typer.echo(bl.table(result))
    typer.echo(json.dumps(result))


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
