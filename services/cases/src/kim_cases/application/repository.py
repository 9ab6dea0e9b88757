"""Aggregates loaded from the event store, and appends that carry this service's envelope metadata."""

from __future__ import annotations

import asyncpg
from kim_runtime.errors import NotFound
from kim_runtime.store import EventStore
from kim_schemas.base import Event

from kim_cases.adapters.events import CommandContext, from_envelope, to_envelopes
from kim_cases.domain import Case, Client


class Repository:
    def __init__(self, store: EventStore):
        self.store = store

    async def case(self, case_id: str, conn: asyncpg.Connection | None = None) -> Case:
        case = Case.from_events(case_id, [from_envelope(e) for e in await self.store.read_stream(case_id, conn=conn)])
        if not case.exists:
            raise NotFound(f"no case {case_id}: check the id (GET /cases lists the cases you may see)")
        case.client_erased_at = (await self.client(case.client_id, conn)).erased_at
        return case

    async def client(self, client_id: str, conn: asyncpg.Connection | None = None) -> Client:
        client = Client.from_events(
            client_id, [from_envelope(e) for e in await self.store.read_stream(client_id, conn=conn)])
        if not client.exists:
            raise NotFound(f"no client {client_id}: register the client first (POST /clients)")
        return client

    async def case_ids_of(self, client_id: str, conn: asyncpg.Connection | None = None) -> list[str]:
        if conn is None:
            async with self.store.pool.acquire() as c:
                return await self.case_ids_of(client_id, c)
        rows = await conn.fetch(
            "SELECT stream_id FROM events WHERE type = 'kim.cases.CaseOpened' AND data->>'client_id' = $1 "
            "ORDER BY position", client_id)
        return [r["stream_id"] for r in rows]

    async def append(self, stream_id: str, version: int, events: list[Event], ctx: CommandContext, *,
                     subject: str | None, municipality: str | None, conn: asyncpg.Connection | None = None) -> int:
        envelopes = to_envelopes(events, ctx, subject=subject, municipality=municipality)
        recorded = await self.store.append(stream_id, envelopes, expected_version=version, conn=conn)
        return recorded[-1].envelope.stream_version if recorded else version

