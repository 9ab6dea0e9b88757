"""PostgreSQL access: the pool, and versioned SQL migrations applied at start under an advisory lock."""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import json
import logging
import weakref
from importlib import resources
from importlib.resources.abc import Traversable
from urllib.parse import unquote, urlsplit

import asyncpg

log = logging.getLogger(__name__)

MIGRATION_LOCK = 0x4B494D  # "KIM": one migrator at a time per database


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=_dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=_dumps, decoder=json.loads, schema="pg_catalog")


def _dumps(value) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


# Every connection names its tables' schema itself: with PostgreSQL's default ("$user", public), a role that may
# create schemas could put a schema named after the connecting user in front of public, with views called `events`
# or `streams` that show an auditor's `kim audit verify` (or a service) what it wants.
SERVER_SETTINGS = {"search_path": "public"}


# Connections that took session state a transaction does not end (a session-level advisory lock): the pool runs
# asyncpg's full reset query (unlock all, close cursors, unlisten, reset settings) on them when they come back.
_SESSION_STATE: weakref.WeakSet = weakref.WeakSet()


def holds_session_state(conn: asyncpg.Connection) -> None:
    """Say that a pooled connection now holds session state (e.g. pg_advisory_lock_shared): it gets the full reset
    when it is given back, whatever happens before then (an unlock cut short by a cancellation included)."""
    _SESSION_STATE.add(getattr(conn, "_con", None) or conn)  # the pool's proxy, or the connection itself


async def _reset(conn: asyncpg.Connection) -> None:
    """What the pool does with a connection given back, after asyncpg has rolled back any open transaction and
    dropped its listeners. Our pooled connections take no session state except where `holds_session_state` says so
    (LISTEN and the migration lock use their own connections), so the reset query, a round trip per release, runs
    only for those: under load it held about a tenth of the pool (issue 18)."""
    if conn in _SESSION_STATE:
        _SESSION_STATE.discard(conn)
        await conn.execute(conn.get_reset_query())


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    return await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, init=_init_connection,
                                     server_settings=SERVER_SETTINGS, reset=_reset)


async def connect(dsn: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(dsn, server_settings=SERVER_SETTINGS)
    await _init_connection(conn)
    return conn


# What the service's own role may do when migrations run as another role (KIM_MIGRATION_DATABASE_URL): everything
# on its tables except rewriting history. Events and stream heads are read-only (appends go through kim_append, which
# runs as the owner); the outbox only gets its sent marks; migrations, the store id and anchors are append-only.
READ_ONLY = ("events", "streams", "schema_migrations", "audit_store")
APPEND_ONLY = ("audit_anchors",)
_GRANTS = """
GRANT CONNECT, CREATE ON DATABASE {database} TO {role};
GRANT USAGE ON SCHEMA public TO {role};
REVOKE CREATE ON SCHEMA public FROM {role};
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role};
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role};
REVOKE INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON {read_only} FROM {role};
REVOKE UPDATE, DELETE, TRUNCATE ON {append_only} FROM {role};
REVOKE DELETE, TRUNCATE ON outbox FROM {role};
REVOKE UPDATE ON outbox FROM {role};
GRANT UPDATE (sent_at) ON outbox TO {role};
"""


def role_of(dsn: str) -> str:
    """The login role a PostgreSQL URL connects as (libpq's default: the OS user)."""
    return unquote(urlsplit(dsn).username or "") or getpass.getuser()


async def grant_service_role(conn: asyncpg.Connection, role: str) -> None:
    """Run as the store's owner after the migrations: give the service's role what it needs and nothing that
    rewrites history. Safe to repeat at every start (tables added by later migrations are covered too)."""
    if await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = $1", role):
        log.warning("the service's database role %s is a superuser: nothing stops it from rewriting history", role)
        return
    ident = lambda name: '"' + name.replace('"', '""') + '"'  # noqa: E731
    database = await conn.fetchval("SELECT current_database()")
    await conn.execute(_GRANTS.format(database=ident(database), role=ident(role),
                                      read_only=", ".join(READ_ONLY), append_only=", ".join(APPEND_ONLY)))


def migrations_of(package: str) -> list[tuple[str, str]]:
    """The package's migrations/NNN_name.sql files in order, as (qualified name, sql)."""
    folder: Traversable = resources.files(package) / "migrations"
    if not folder.is_dir():
        return []
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)
    return [(f"{package}/{f.name}", f.read_text()) for f in files]


async def migrate(conn: asyncpg.Connection, packages: list[str]) -> list[str]:
    """Apply the runtime's and the given packages' migrations that are not applied yet; returns their names.

    A changed migration that was already applied is refused: migrations are append-only, like events.
    """
    applied: list[str] = []
    async with migration_lock(conn):
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " name text PRIMARY KEY, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["name"]: r["checksum"] for r in await conn.fetch("SELECT name, checksum FROM schema_migrations")}
        for package in ["kim_runtime", *packages]:
            for name, sql in migrations_of(package):
                checksum = hashlib.sha256(sql.encode()).hexdigest()
                if name in done:
                    if done[name] != checksum:
                        raise RuntimeError(f"migration {name} was changed after it was applied; add a new one instead")
                    continue
                async with conn.transaction():
                    await conn.execute(sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)", name, checksum
                    )
                log.info("applied migration %s", name)
                applied.append(name)
    return applied


@contextlib.asynccontextmanager
async def migration_lock(conn: asyncpg.Connection):
    """One migrator per database at a time: replicas starting together must not race to create the same objects."""
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
    try:
        yield
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
