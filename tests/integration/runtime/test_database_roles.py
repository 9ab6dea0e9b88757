"""The event store refuses rewrites from the service's own role (issue 15): migrations run as the store's owner
(KIM_MIGRATION_DATABASE_URL), the service connects as a role of its own, and that role can do its work (append,
read, mark outbox rows sent, keep its inbox, checkpoints, anchors and projections) but not rewrite history.
Tested as a whole matrix of statements against a real PostgreSQL, through the runtime's own start-up."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from kim_runtime import db
from kim_runtime.settings import RuntimeSettings
from kim_runtime.service import ServiceRuntime
from kim_runtime.store import EventStore

from .harness import event

pytestmark = pytest.mark.postgres

# (statement, allowed for the service's role); each runs in a transaction that is rolled back
MATRIX = [
    ("SELECT count(*) FROM events", True),
    ("SELECT count(*) FROM streams", True),
    ("UPDATE events SET data = '{}'::jsonb WHERE stream_id = 's1'", False),
    ("DELETE FROM events WHERE stream_id = 's1'", False),
    ("TRUNCATE events CASCADE", False),
    ("INSERT INTO events SELECT * FROM events WHERE false", False),
    ("UPDATE streams SET version = 1 WHERE stream_id = 's1'", False),
    ("DELETE FROM streams WHERE stream_id = 's1'", False),
    ("INSERT INTO streams (stream_id, version, last_hash) VALUES ('x', 1, '\\x00')", False),
    ("ALTER TABLE events DISABLE TRIGGER ALL", False),
    ("DROP TABLE events CASCADE", False),
    ("DROP FUNCTION kim_append(text, integer, text, uuid[], text[], integer[], timestamptz[], jsonb[], jsonb[])",
     False),
    ("DROP FUNCTION kim_append(text, integer, text, uuid[], text[], integer[], timestamptz[], jsonb[], jsonb[], "
     "jsonb)", False),
    ("DROP FUNCTION kim_schedule(jsonb)", False),
    ("DELETE FROM deadlines", True),  # the scheduler deletes what it fired
    ("UPDATE deadlines SET due_at = now()", True),  # and postpones what failed
    ("UPDATE outbox SET sent_at = now()", True),
    ("UPDATE outbox SET topic = 'elsewhere'", False),
    ("DELETE FROM outbox", False),
    ("UPDATE schema_migrations SET checksum = 'x'", False),
    ("DELETE FROM schema_migrations", False),
    ("UPDATE audit_store SET id = gen_random_uuid()", False),
    ("DELETE FROM audit_anchors", False),
    ("UPDATE audit_anchors SET digest = 'x'", False),
    ("INSERT INTO audit_anchor_heads (stream_id, version, hash) VALUES ('x', 1, '\\x00')", True),
    ("INSERT INTO inbox (consumer, event_id) VALUES ('c', gen_random_uuid())", True),
    ("DELETE FROM inbox", True),
    ("INSERT INTO checkpoints (consumer, topic, partition, \"offset\") VALUES ('c', 't', 0, 1)", True),
    ("CREATE SCHEMA rebuilt_view", True),  # projections rebuild into fresh schemas of their own
]


@pytest.fixture
async def separated(fresh_db, stack):
    """The store set up by the runtime with an owner URL (the suite's admin) and a login role of the service's own."""
    role = f"kim_test_app_{uuid.uuid4().hex[:8]}"
    admin = await db.connect(fresh_db)
    await admin.execute(f'CREATE ROLE "{role}" LOGIN')
    service_url = fresh_db.replace("://postgres@", f"://{role}@", 1)
    settings = RuntimeSettings(service="cases", database_url=service_url, migration_database_url=fresh_db)
    runtime = ServiceRuntime(settings, migrations_package=None)
    await runtime._migrate()
    owner_store = EventStore(pool := await db.create_pool(fresh_db), "kim.test")
    await owner_store.append("s1", [event("s1", n) for n in (1, 2)], 0)
    await pool.close()
    try:
        yield service_url
    finally:
        await admin.execute(f'REASSIGN OWNED BY "{role}" TO postgres; DROP OWNED BY "{role}"')
        await admin.close()
        # the database is dropped by fresh_db; the role outlives it unless dropped after
        admin = await db.connect(stack.postgres_url)
        try:
            await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        finally:
            await admin.close()


async def test_the_services_role_may_do_its_work_but_not_rewrite_history(separated):
    conn = await db.connect(separated)
    refused, allowed = [], []
    try:
        for sql, expected in MATRIX:
            tx = conn.transaction()
            await tx.start()
            try:
                await conn.execute(sql)
                ok = True
            except asyncpg.InsufficientPrivilegeError:
                ok = False
            finally:
                await tx.rollback()
            (allowed if ok else refused).append(sql)
            assert ok is expected, f"{'allowed' if ok else 'refused'}, expected the opposite: {sql}"
    finally:
        await conn.close()
    print(f"\n{len(MATRIX)} statements as the service's role: {len(allowed)} allowed, {len(refused)} refused")


async def test_the_services_role_appends_through_the_owners_function(separated):
    pool = await db.create_pool(separated)
    try:
        store = EventStore(pool, "kim.test")
        await store.append("s1", [event("s1", 3)], 2)
        await store.append("s2", [event("s2", 1)], 0)
        assert [e.stream_version for e in await store.read_stream("s1")] == [1, 2, 3]
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 4
            owner = await conn.fetchval("SELECT tableowner FROM pg_tables WHERE tablename = 'events'")
        assert owner == "postgres"  # the migration role, not the service's
    finally:
        await pool.close()


async def test_a_second_start_keeps_the_grants(separated, fresh_db):
    """Grants are re-applied at every start (tables of later migrations are covered), and stay just as narrow."""
    settings = RuntimeSettings(service="cases", database_url=separated, migration_database_url=fresh_db)
    await ServiceRuntime(settings, migrations_package=None)._migrate()
    conn = await db.connect(separated)
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("DELETE FROM events")
        assert await conn.fetchval("SELECT count(*) FROM events") == 2
    finally:
        await conn.close()


async def test_a_schema_the_services_role_creates_cannot_stand_in_for_the_store(separated, fresh_db):
    """The stranger's probe: the role may create schemas (projections rebuild into them), so it made one named like
    the auditor's login with views `events` and `streams` that hid an event; PostgreSQL's default search path
    ("$user", public) put them first. Every connection of the runtime and `kim audit` now names `public` alone."""
    app = await db.connect(separated)
    try:
        await app.execute('CREATE SCHEMA "postgres"')  # the auditor's (the suite's admin's) login role
        await app.execute('CREATE VIEW "postgres".events AS SELECT * FROM public.events WHERE version = 1')
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await app.execute("CREATE VIEW public.streams_copy AS SELECT * FROM public.streams")
    finally:
        await app.close()
    auditor = await db.connect(fresh_db)
    pool = await db.create_pool(fresh_db)
    try:
        assert await auditor.fetchval("SELECT count(*) FROM events") == 2  # the store, not the view (1)
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM events") == 2
        raw = await asyncpg.connect(fresh_db)  # a connection without the runtime's setting is fooled
        try:
            assert await raw.fetchval("SELECT count(*) FROM events") == 1
        finally:
            await raw.close()
    finally:
        await pool.close()
        await auditor.execute('DROP SCHEMA "postgres" CASCADE')
        await auditor.close()
