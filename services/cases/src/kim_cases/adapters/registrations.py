"""Where each client was registered (table client_registrations) and which cases a client has (the CaseOpened
events in this service's store): the one adapter the client and case handlers ask, so they run on the in-memory
store too (tests/unit/cases/test_handlers.py gives an in-memory one)."""

from __future__ import annotations

import asyncpg
from kim_runtime.auth import Principal
from kim_runtime.store import Write
from kim_schemas.cases import CaseOpened


class ClientRegistrations:
    def __init__(self, pool: asyncpg.Pool):
        self.pool = pool

    async def record(self, conn: asyncpg.Connection, client_id: str, principal: Principal) -> None:
        """The registering team and municipality, in the registration's transaction."""
        write = self.recording(client_id, principal)
        await conn.execute(write.sql, *write.args)

    def recording(self, client_id: str, principal: Principal) -> Write:
        """The write of `record`, to be made in the registration's append (kim_runtime.store.Write)."""
        return Write("INSERT INTO client_registrations (client_id, municipality, team) VALUES ($1, $2, $3)",
                     (client_id, principal.municipality, principal.team))

    async def record_erasure_request(self, conn: asyncpg.Connection, client_id: str, reference: str) -> None:
        """The erasure request's reference (a file number), in the erasure's transaction: kept for the audit (`kim
        audit erasures`), never published (ClientErased v2 does not carry it)."""
        await conn.execute("INSERT INTO erasure_requests (client_id, request_reference) VALUES ($1, $2)",
                           client_id, reference)

    async def erasure_request(self, client_id: str) -> str | None:
        async with self.pool.acquire() as conn:
            return await conn.fetchval("SELECT request_reference FROM erasure_requests WHERE client_id = $1",
                                       client_id)

    async def place(self, client_id: str) -> tuple[str | None, str | None] | None:
        """(municipality, team) that registered the client; None for a client registered before this was kept."""
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT municipality, team FROM client_registrations WHERE client_id = $1", client_id)
        return (row["municipality"], row["team"]) if row else None

    async def place_and_case_ids(self, client_id: str) -> tuple[tuple[str | None, str | None] | None, list[str]]:
        """`place` and `case_ids_of` in one statement (one round trip: POST /cases asks both)."""
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT r.client_id IS NOT NULL AS registered, r.municipality, r.team, ARRAY(SELECT e.stream_id FROM "
                "events e WHERE e.type = $2 AND e.data->>'client_id' = $1 ORDER BY e.position) AS cases "
                "FROM (SELECT 1) AS one LEFT JOIN client_registrations r ON r.client_id = $1", client_id,
                CaseOpened.event_type)
        return ((row["municipality"], row["team"]) if row["registered"] else None), list(row["cases"])

    async def case_ids_of(self, client_id: str, conn: asyncpg.Connection | None = None) -> list[str]:
        """The client's cases, in the order they were opened."""
        if conn is None:
            async with self.pool.acquire() as c:
                return await self.case_ids_of(client_id, c)
        rows = await conn.fetch(
            "SELECT stream_id FROM events WHERE type = $2 AND data->>'client_id' = $1 ORDER BY position", client_id,
            CaseOpened.event_type)
        return [r["stream_id"] for r in rows]
