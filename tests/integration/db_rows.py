"""Reading a service's database in a test: rows of a query, the store's event count, dropping a schema."""

from __future__ import annotations

from kim_runtime import db


async def fetch(dsn: str, *queries: str) -> list[list[tuple]]:
    """Each query's rows, as tuples."""
    conn = await db.connect(dsn)
    try:
        return [[tuple(r) for r in await conn.fetch(q)] for q in queries]
    finally:
        await conn.close()


async def count_events(dsn: str) -> int:
    [[(n,)]] = await fetch(dsn, "SELECT count(*) FROM events")
    return n


async def drop_schema(dsn: str, schema: str) -> None:
    conn = await db.connect(dsn)
    try:
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        await conn.close()


async def replay_twice_changes_nothing(service: str, projection: str, dsn: str, rows, env: dict[str, str]) -> None:
    """Drop the projection's schema, then `kim replay --service <service> --from store` twice: each run rebuilds the
    rows `rows(dsn)` read before the drop and appends no event to the service's store."""
    from .audit import cli

    live, events = await rows(dsn), await count_events(dsn)
    await drop_schema(dsn, projection)
    for run in (1, 2):
        code, out, err = await cli.run("replay", "--service", service, "--from", "store", env=env)
        assert code == 0, err
        assert f"{projection}: " in out and "swapped in" in out, out
        assert await rows(dsn) == live, f"replay {run} rebuilt other rows"
        assert await count_events(dsn) == events, f"replay {run} appended events"
