"""`kim bench keys`: how long `kim keys rotate` takes to re-wrap N client data keys (default: the demo's 250).

A fresh database with the cases migrations gets N data keys wrapped under one KEK (inserted directly: seeding
through the HTTP API would measure registration, not rotation); then the same rotation `kim keys rotate` runs
re-wraps them all to a second KEK. Prints the figures and one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid

import typer
from kim_cases.public import Keyring, data_key_status, generate_kek, new_key, prepare_keys, rotate_data_keys
from kim_runtime import db


async def _seed(pool, ring: Keyring, clients: int) -> None:
    rows = []
    for _ in range(clients):
        client_id, key_id = str(uuid.uuid4()), str(uuid.uuid4())
        rows.append((client_id, key_id, *ring.wrap(client_id, key_id, new_key())))
    async with pool.acquire() as conn:
        await conn.copy_records_to_table("client_keys", records=rows,
                                         columns=["client_id", "key_id", "kek_id", "wrapped_key"])


async def _bench(admin_url: str, database_url, clients: int, batch_size: int) -> dict:
    from kim_cli.stack import create_database, drop_database

    name = f"kim_bench_keys_{os.getpid()}"
    await create_database(admin_url, name)
    try:
        conn = await db.connect(database_url(name))
        try:
            await db.migrate(conn, ["kim_cases"])
        finally:
            await conn.close()
        old, new = generate_kek("bench-old"), generate_kek("bench-new")
        pool = await db.create_pool(database_url(name), max_size=2)
        try:
            await _seed(pool, Keyring((old,), "bench"), clients)
            ring = Keyring((new, old), "bench")
            await prepare_keys(pool, ring)  # what the service does when it starts with the new keyring
            result = await rotate_data_keys(pool, ring, batch_size=batch_size)
            async with pool.acquire() as conn:
                left = (await data_key_status(conn)).by_kek
        finally:
            await pool.close()
    finally:
        await drop_database(admin_url, name)
    return {"benchmark": "keys", "clients": clients, "batch_size": batch_size, "rewrapped": result.rewrapped,
            "all_under_new_kek": left == {"bench-new": clients},
            "seconds": round(result.seconds, 3), "keys_per_s": round(result.rate)}


def keys(
    clients: int = typer.Option(250, min=1, help="data keys to re-wrap (make run seeds 250 demo clients)"),
    batch_size: int = typer.Option(500, min=1, help="data keys per transaction, as `kim keys rotate --batch-size`"),
) -> None:
    """Re-wrap N client data keys from one KEK to another, as `kim keys rotate` does, and time it."""
    from kim_cli.stack import StackConfig, ensure_up, stop

    handle = ensure_up(StackConfig.from_env(), log=lambda m: typer.echo(m, err=True))
    try:
        summary = asyncio.run(_bench(handle.postgres_url, handle.database_url, clients, batch_size))
    finally:
        stop(handle)
    typer.echo(f"kim keys rotate: {summary['rewrapped']:,} data keys re-wrapped in {summary['seconds']:.3f} s "
               f"({summary['keys_per_s']:,} keys/s, batches of {batch_size})")
    typer.echo(json.dumps(summary))
