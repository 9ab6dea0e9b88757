"""Client data keys are stored only wrapped by a key-encryption key (KEK) outside the database: a dump of kim_cases
decrypts nothing without the KEK and everything (but the erased) with it; a database from before wrapping ends
with no raw key once the service starts; the service refuses a keyring that cannot open its keys."""

from __future__ import annotations

import hashlib
import uuid
from contextlib import asynccontextmanager

import httpx
import pytest
from kim_runtime import db
from kim_runtime.anchor import Signer
from kim_runtime.auth import Principal, Role
from kim_runtime.store import EventStore

from kim_cases.adapters import crypto
from kim_cases.adapters.events import CommandContext
from kim_cases.adapters.keyring import MasterKeyError, MissingKek, generate
from kim_cases.application.repository import Repository
from kim_cases.bootstrap import build_app
from kim_cases.domain import Client
from kim_cases.settings import CasesSettings

from . import key_dump
from .conftest import LUENEN, SECRET, TEAM_LEAD, Api
from tests.bodies import ERASURE

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

NAMES = ["Zaynab Qaraqosh-Wielgosz", "Oleksandr Wyszomirski", "Efua Asantewaa-Lindqvist"]
NOTES = "Vertrauliche Notiz: Kinder im Schulstress"
AUDIT_KEY = Signer.generate()[1]  # outside dev a service also needs the key that signs its anchors


@asynccontextmanager
async def cases_service(database_url: str, kafka_bootstrap: str, master_key: str):
    """The cases service in-process (real lifespan), outside dev: it runs only with the KEKs given here."""
    settings = CasesSettings(database_url=database_url, kafka_bootstrap=kafka_bootstrap, auth_secret=SECRET,
                             env="production", master_key=master_key, audit_signing_key=AUDIT_KEY,
                             service_token_secret="wrapped-keys-test-service-token-secret-0123456789")
    app = build_app(settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cases") as http:
            yield Api(http, app)


async def register_all(api: Api, names: list[str]) -> dict[str, str]:
    return {await api.client(name, address=f"{name.split()[0]}weg 7, 59423 Unna"): name for name in names}


async def with_notes(api: Api, client_id: str) -> str:
    return await api.case_with_notes(client_id, NOTES)


def recovered(plaintexts: list[str], needles: list[str]) -> set[str]:
    return {n for n in needles if any(n in p for p in plaintexts)}


async def test_a_dump_of_kim_cases_decrypts_nothing_without_the_kek_and_all_but_the_erased_with_it(
        fresh_db: str, kafka_bootstrap: str):
    kek = generate("kek-dump-test")
    async with cases_service(fresh_db, kafka_bootstrap, kek.entry()) as api:
        clients = await register_all(api, NAMES)
        first, *_, erased = clients
        await with_notes(api, first)
        r = await api.call("POST", f"/clients/{erased}/erasure", headers=TEAM_LEAD, json=ERASURE)
        assert r.status_code == 200, r.text
        assert (await api.get(f"/clients/{first}"))["personal"]["name"] == NAMES[0]

    tables = await key_dump.dump(fresh_db)
    assert {"public.client_keys", "public.key_encryption_keys", "public.events"} <= tables.keys()
    assert "public.client_keys_unwrapped" not in tables  # the raw-key table of before is gone
    assert {r["client_id"] for r in tables["public.client_keys"]} == set(clients) - {erased}  # erasure: row gone
    assert all(len(r["wrapped_key"]) == crypto.WRAPPED_KEY_BYTES and r["kek_id"] == kek.kek_id
               for r in tables["public.client_keys"])

    assert key_dump.decrypt_without_kek(tables) == []
    opened = key_dump.decrypt_with_kek(tables, kek.kek_id, kek.key)
    assert recovered(opened, [*NAMES, NOTES]) == {NAMES[0], NAMES[1], NOTES}  # never the erased client's name
    with pytest.raises(crypto.Undecryptable):  # another key under the same id opens no row
        key_dump.decrypt_with_kek(tables, kek.kek_id, generate(kek.kek_id).key)


async def seed_today_main(url: str, names: list[str]) -> dict[str, str]:
    """A database as today's main left it: cases migration 001 only, raw data keys in client_keys."""
    conn = await db.connect(url)
    try:
        await db.migrate(conn, [])
        name, sql = db.migrations_of("kim_cases")[0]
        assert name.endswith("001_client_keys.sql")
        await conn.execute(sql)
        await conn.execute("INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)", name,
                           hashlib.sha256(sql.encode()).hexdigest())
    finally:
        await conn.close()
    pool = await db.create_pool(url, max_size=2)
    repo, clients = Repository(EventStore(pool, topic=None)), {}
    principal = Principal(sub="staff-1", role=Role.CASE_MANAGER, team="stadt-luenen", municipality=LUENEN)
    ctx = CommandContext(actor=principal.sub, principal=principal)
    try:
        for person in names:
            client_id, key_id, key = str(uuid.uuid4()), str(uuid.uuid4()), crypto.new_key()
            personal = crypto.encrypt(key, key_id, client_id, {"name": person, "date_of_birth": "1990-04-02",
                                                               "address": None, "contact": None})
            async with pool.acquire() as c, c.transaction():
                await c.execute("INSERT INTO client_keys (client_id, key_id, key) VALUES ($1, $2, $3)",
                                client_id, key_id, key)
                profile = crypto.encrypt(key, key_id, client_id, {"birth_year": 1990, "languages": ["de"],
                                                                  "arrival_year": 2016})
                events = Client(client_id).register(personal, profile)
                await repo.append(client_id, 0, events, ctx, subject=client_id, municipality=LUENEN, conn=c)
            clients[client_id] = person
    finally:
        await pool.close()
    return clients


async def test_an_upgraded_database_ends_with_no_raw_key_and_every_client_still_readable(
        fresh_db: str, kafka_bootstrap: str):
    clients = await seed_today_main(fresh_db, NAMES)
    before = await key_dump.dump(fresh_db)
    assert recovered(key_dump.decrypt_without_kek(before), NAMES) == set(NAMES)  # today: the dump is enough

    kek = generate("kek-upgrade")
    async with cases_service(fresh_db, kafka_bootstrap, kek.entry()) as api:
        for client_id, person in clients.items():
            assert (await api.get(f"/clients/{client_id}"))["personal"]["name"] == person
        new_one = await api.client("Nachher Registriert")

    after = await key_dump.dump(fresh_db)
    assert "public.client_keys_unwrapped" not in after
    assert not any(isinstance(v, bytes) and len(v) == crypto.KEY_BYTES
                   for row in after["public.client_keys"] for v in row.values())
    assert {r["client_id"] for r in after["public.client_keys"]} == {*clients, new_one}
    assert key_dump.decrypt_without_kek(after) == []
    assert recovered(key_dump.decrypt_with_kek(after, kek.kek_id, kek.key), NAMES) == set(NAMES)


async def test_start_up_refuses_a_keyring_that_cannot_open_the_keys_in_the_database(
        fresh_db: str, kafka_bootstrap: str):
    old, new = generate("kek-old"), generate("kek-new")
    async with cases_service(fresh_db, kafka_bootstrap, old.entry()) as api:
        clients = await register_all(api, NAMES)

    with pytest.raises(MissingKek, match=r"'kek-old' \(3 data keys\).*KIM_MASTER_KEY does not hold"):
        async with cases_service(fresh_db, kafka_bootstrap, new.entry()):
            pass
    impostor = generate("kek-old")  # same id, another key
    with pytest.raises(MasterKeyError, match="'kek-old' is not the key this database has known under that id"):
        async with cases_service(fresh_db, kafka_bootstrap, f"{impostor.entry()}"):
            pass
    # the right keyring (new first, old after it) starts and reads every client
    async with cases_service(fresh_db, kafka_bootstrap, f"{new.entry()},{old.entry()}") as api:
        for client_id, person in clients.items():
            assert (await api.get(f"/clients/{client_id}"))["personal"]["name"] == person
