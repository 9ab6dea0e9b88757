"""`kim bench`: benchmarks that print figures (never run inside the tests). store: the event store's append;
replay: a projection rebuild from Kafka against a raw consumer; keys: `kim keys rotate` re-wrapping N data keys."""

from __future__ import annotations

import asyncio
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

