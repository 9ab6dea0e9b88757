"""What the cases service checks and fixes about its keys at start-up, before it serves a request.

1. The KEKs it holds are recorded by id and verifier (never the key) in key_encryption_keys; a different key under
   an id the database already knows is refused, so one id always names one key.
2. Every KEK that wraps a data key in client_keys must be in the keyring; otherwise the service would answer
   requests it cannot serve, so it refuses to start and says which KEK ids are missing and for how many keys.
3. Raw data keys left from before wrapping (table client_keys_unwrapped, migration 002) are wrapped under the
   current KEK and the raw table dropped (emptied, when the service's role does not own it), all in one
   transaction: afterwards no raw key is left in the database.
"""

from __future__ import annotations

import asyncpg

from kim_cases.adapters.keyring import Keyring, MasterKeyError, MissingKek

UNWRAPPED_LOCK = 0x4B494D4B  # "KIMK": one process wraps the raw keys, the others wait and find nothing left
_BATCH = 1000


async def prepare(pool: asyncpg.Pool, keyring: Keyring) -> int:
    """Checks 1-3 above; returns how many raw keys were wrapped (0 once done)."""
    async with pool.acquire() as conn:
        await register(conn, keyring)
        wrapped = await wrap_unwrapped(conn, keyring)
        await check_coverage(conn, keyring)
    return wrapped


async def register(conn: asyncpg.Connection, keyring: Keyring) -> None:
    async with conn.transaction():
        for kek in keyring.keys:
            known = await conn.fetchval(
                "INSERT INTO key_encryption_keys AS k (kek_id, verifier) VALUES ($1, $2) ON CONFLICT (kek_id) "
                "DO UPDATE SET last_held_at = now() RETURNING k.verifier", kek.kek_id, kek.verifier)
            if known != kek.verifier:
                raise MasterKeyError(
                    f"{keyring.source}: KEK {kek.kek_id!r} is not the key this database has known under that id; "
                    "find the key that was used (your secret store or backup), or give a new key a new id")


async def check_coverage(conn: asyncpg.Connection, keyring: Keyring) -> None:
    rows = await conn.fetch("SELECT kek_id, count(*) AS n FROM client_keys WHERE NOT (kek_id = ANY($1)) "
                            "GROUP BY kek_id ORDER BY kek_id", keyring.ids)
    if rows:
        missing = ", ".join(f"{r['kek_id']!r} ({r['n']} data keys)" for r in rows)
        raise MissingKek(f"client data keys are wrapped under KEK(s) {missing} that {keyring.source} does not hold "
                         f"(it holds {', '.join(keyring.ids)}): list them after the current KEK until `kim keys "
                         "rotate` has re-wrapped every key and `kim keys status` shows none left under them")


async def wrap_unwrapped(conn: asyncpg.Connection, keyring: Keyring) -> int:
    """Wrap the raw keys of client_keys_unwrapped under the current KEK and drop that table (one transaction)."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", UNWRAPPED_LOCK)
        if not await conn.fetchval("SELECT to_regclass('client_keys_unwrapped') IS NOT NULL"):
            return 0
        wrapped, after = 0, ""
        while rows := await conn.fetch("SELECT client_id, key_id::text, key, created_at FROM client_keys_unwrapped "
                                       "WHERE client_id > $1 ORDER BY client_id LIMIT $2", after, _BATCH):
            after, records = rows[-1]["client_id"], []
            for r in rows:
                kek_id, sealed = keyring.wrap(r["client_id"], r["key_id"], bytes(r["key"]))
                records.append((r["client_id"], r["key_id"], kek_id, sealed, r["created_at"]))
            await conn.executemany("INSERT INTO client_keys (client_id, key_id, kek_id, wrapped_key, created_at) "
                                   "VALUES ($1, $2, $3, $4, $5)", records)
            wrapped += len(records)
        if await conn.fetchval("SELECT pg_has_role(current_user, tableowner, 'MEMBER') FROM pg_tables "
                               "WHERE schemaname = 'public' AND tablename = 'client_keys_unwrapped'"):
            await conn.execute("DROP TABLE client_keys_unwrapped")
        else:  # the service's own role may not drop the owner's table; emptied, it holds no key either
            await conn.execute("DELETE FROM client_keys_unwrapped")
    return wrapped


async def unwrapped_count(conn: asyncpg.Connection) -> int:
    """Raw keys still waiting to be wrapped (the service has not started since the upgrade)."""
    if not await conn.fetchval("SELECT to_regclass('client_keys_unwrapped') IS NOT NULL"):
        return 0
    return await conn.fetchval("SELECT count(*) FROM client_keys_unwrapped")
