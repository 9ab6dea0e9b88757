"""The per-client key store, in the cases service's own database (table client_keys, migration 001).

Erasing a client deletes its key row in the same transaction as the ClientErased event.
"""

from __future__ import annotations

import uuid

import asyncpg

from kim_cases.adapters import crypto


class KeyStore:
    def __init__(self, pool: asyncpg.Pool):
        self.pool = pool

    async def create(self, conn: asyncpg.Connection, client_id: str) -> tuple[str, bytes]:
        key_id, key = str(uuid.uuid4()), crypto.new_key()
        await conn.execute("INSERT INTO client_keys (client_id, key_id, key) VALUES ($1, $2, $3)",
                           client_id, key_id, key)
        return key_id, key

    async def get(self, client_id: str, conn: asyncpg.Connection | None = None) -> tuple[str, bytes] | None:
        sql = "SELECT key_id::text, key FROM client_keys WHERE client_id = $1"
        if conn is not None:
            row = await conn.fetchrow(sql, client_id)
        else:
            async with self.pool.acquire() as c:
                row = await c.fetchrow(sql, client_id)
        return (row["key_id"], row["key"]) if row else None

    async def destroy(self, conn: asyncpg.Connection, client_id: str) -> bool:
        return await conn.fetchval("DELETE FROM client_keys WHERE client_id = $1 RETURNING true", client_id) or False
