"""The per-client key store, in the cases service's own database (table client_keys, migration 002).

A data key is stored only wrapped by the current key-encryption key of the keyring (adapters/keyring.py), which is
not in the database; it is unwrapped in memory when a field is opened. Erasing a client deletes its key row in the
same transaction as the ClientErased event.
"""

from __future__ import annotations

import uuid

import asyncpg

from kim_runtime.commands import request_memo
from kim_runtime.store import Write

from kim_cases.adapters import crypto
from kim_cases.adapters.keyring import Keyring

_INSERT = "INSERT INTO client_keys (client_id, key_id, kek_id, wrapped_key) VALUES ($1, $2, $3, $4)"


def _keys_of_request() -> dict | None:
    memo = request_memo()
    return None if memo is None else memo.setdefault("kim_cases.keys", {})


class KeyStore:
    def __init__(self, pool: asyncpg.Pool, keyring: Keyring):
        self.pool, self.keyring = pool, keyring

    async def create(self, conn: asyncpg.Connection, client_id: str) -> tuple[str, bytes]:
        key_id, key, write = self.new(client_id)
        await conn.execute(write.sql, *write.args)
        return key_id, key

    def new(self, client_id: str) -> tuple[str, bytes, Write]:
        """A new data key for the client, and the write that stores it wrapped (to be made with the client's
        registration: kim_runtime.store.Write, in the append's own statement)."""
        key_id, key = str(uuid.uuid4()), crypto.new_key()
        kek_id, wrapped = self.keyring.wrap(client_id, key_id, key)
        return key_id, key, Write(_INSERT, (client_id, key_id, kek_id, wrapped))

    async def get(self, client_id: str, conn: asyncpg.Connection | None = None) -> tuple[str, bytes] | None:
        """(key id, data key) of the client, or None once the key is destroyed. Read and unwrapped once per HTTP
        request (kim_runtime.commands.request_memo: a case command needed it up to three times, opening the case's
        sealed fields for the policy's owner lookup and for the command, and sealing); anew each time elsewhere."""
        memo = _keys_of_request()
        if memo is not None and client_id in memo:
            return memo[client_id]
        sql = "SELECT key_id::text, kek_id, wrapped_key FROM client_keys WHERE client_id = $1"
        if conn is not None:
            row = await conn.fetchrow(sql, client_id)
        else:
            async with self.pool.acquire() as c:
                row = await c.fetchrow(sql, client_id)
        found = None if row is None else (
            row["key_id"], self.keyring.unwrap(client_id, row["key_id"], row["kek_id"], row["wrapped_key"]))
        if memo is not None:
            memo[client_id] = found
        return found

    async def exists(self, client_id: str) -> bool:
        async with self.pool.acquire() as conn:
            return bool(await conn.fetchval("SELECT true FROM client_keys WHERE client_id = $1", client_id))

    async def destroy(self, conn: asyncpg.Connection, client_id: str) -> bool:
        if (memo := _keys_of_request()) is not None:
            memo.pop(client_id, None)
        return await conn.fetchval("DELETE FROM client_keys WHERE client_id = $1 RETURNING true", client_id) or False
