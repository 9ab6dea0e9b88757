"""`kim replay`: rebuild projections from Kafka or from the event stores, with a progress bar, safe while the service
runs (fresh tables, swapped in at the end) and resumable (run it again after an interruption: it goes on)."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from enum import StrEnum

import typer
from aiokafka.errors import KafkaConnectionError
from tqdm import tqdm

from kim_cli.audit.connect import Databases, UserError, database_url, kafka_bootstrap, kafka_options, service_of_topic
from kim_cli.audit.registry import Registered, select
from kim_runtime.rebuild import RebuildResult, rebuild_from_kafka
from kim_runtime.replay_store import rebuild_from_store

app = typer.Typer(invoke_without_command=True, context_settings={"allow_interspersed_args": True})


class Source(StrEnum):
    kafka = "kafka"
    store = "store"


async def _projection_pool(dbs: Databases, reg: Registered, override: str | None):
    if not override and not reg.service:
        raise UserError(f"projection {reg.projection.name}: say which database holds it (--service or --database-url)")
    pool = await dbs.pool(override or database_url(reg.service), what=f"{reg.service or 'projection'}")
    async with pool.acquire() as conn:
        if not await conn.fetchval("SELECT to_regclass('inbox') IS NOT NULL AND to_regclass('checkpoints') IS NOT NULL"):
            raise UserError(f"the {reg.service or 'projection'} database has no inbox/checkpoints tables yet: start "
                            f"the service once (it applies its migrations), then replay")
    return pool


async def _stores(dbs: Databases, reg: Registered) -> dict:
    stores = {}
    for topic in reg.projection.topics:
        owner = service_of_topic(topic)
        if owner is None:
            raise UserError(f"topic {topic} of {reg.projection.name} is published by no service store: use --from kafka")
        stores[topic] = await dbs.service(owner)
    return stores


async def _cases_unsealer(dbs: Databases):
    """The cases projections read sealed dates and codes: opened with the clients' keys (the cases database and its
    KEK); without the KEK they are replayed sealed (dates empty), which is said."""
    from kim_cases.public import MasterKeyError, unsealer_for

    from kim_cli.master_key import keyring

    try:
        keys = keyring()
    except MasterKeyError as exc:
        typer.echo(f"warning: no key-encryption key ({exc}): the cases projections are replayed with their dates "
                   "and codes sealed", err=True)
        return None
    return unsealer_for(await dbs.service("cases"), keys)


async def _replay_one(dbs: Databases, reg: Registered, source: Source, restart: bool, batch_size: int,
                      override: str | None) -> RebuildResult:
    pool = await _projection_pool(dbs, reg, override)
    if reg.service == "cases" and getattr(reg.projection, "unsealer", False) is None:
        reg.projection.unsealer = await _cases_unsealer(dbs)
    with tqdm(desc=reg.projection.name, unit="ev", unit_scale=True, total=0, dynamic_ncols=True) as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        if source is Source.store:
            return await rebuild_from_store(reg.projection, pool, await _stores(dbs, reg), batch_size=batch_size,
                                            resume=not restart, progress=progress)
        return await rebuild_from_kafka(reg.projection, pool, kafka_bootstrap(), kafka_options=kafka_options(),
                                        batch_size=batch_size, resume=not restart, progress=progress)


async def _replay(chosen: list[Registered], source: Source, restart: bool, batch_size: int,
                  override: str | None) -> list[RebuildResult]:
    results = []
    async with AsyncExitStack() as stack:
        dbs = Databases(stack)
        for reg in chosen:
            result = await _replay_one(dbs, reg, source, restart, batch_size, override)
            typer.echo(f"{result.projection}: {result.events_applied:,} events applied, {result.duplicates:,} "
                       f"duplicates, {result.undecodable:,} undecodable in {result.seconds:.1f} s "
                       f"({result.rate:,.0f} events/s); swapped in")
            results.append(result)
    return results


@app.callback()
def replay(
    projection: str = typer.Argument(None, help="Projection name (see each service's projections.py)"),
    service: str = typer.Option(None, "--service", "-s", help="All projections of this service"),
    source: Source = typer.Option(Source.kafka, "--from", help="Read the history from Kafka or the event stores"),
    restart: bool = typer.Option(False, help="Drop an interrupted rebuild's progress and start from zero"),
    batch_size: int = typer.Option(5000, min=1, help="Events per transaction"),
    module: str = typer.Option(None, help="Take PROJECTIONS from this module instead of the services'"),
    database_url_: str = typer.Option(None, "--database-url", help="Database of the projection (default: its "
                                      "service's, KIM_<SERVICE>_DATABASE_URL or the local stack)"),
) -> None:
    """Rebuild projections into fresh tables and swap them in; run again after Ctrl-C to continue."""
    try:
        chosen = select(projection, service=service, module=module)
        asyncio.run(_replay(chosen, source, restart, batch_size, database_url_))
    except UserError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except KafkaConnectionError as exc:
        typer.echo(f"error: cannot reach Kafka at {kafka_bootstrap()} ({exc}); start the stack (`kim stack up`) or "
                   f"set KIM_KAFKA_BOOTSTRAP", err=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        typer.echo("interrupted: the rebuilt part is kept and the live tables are untouched; run the same command "
                   "again to continue (--restart starts over)", err=True)
        raise typer.Exit(130) from None
