"""Cases and clients loaded from the event store, and appends that carry this service's envelope metadata: the
runtime's repositories (kim_runtime.commands) with the cases service's rules (an erased client's cases know it)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
from kim_runtime import commands
from kim_runtime.errors import NotFound
from kim_runtime.sealing import Sealing
from kim_runtime.store import EventStore, Write
from kim_schemas.base import Event

from kim_cases.adapters.events import SOURCE, CommandContext, event_municipality, key_id
from kim_cases.domain import Case, Client


class Repository:
    def __init__(self, store: EventStore, sealing: Sealing | None = None):
        self.store = store
        self.cases = commands.Repository(store, Case, source=SOURCE, sealing=sealing)
        self.clients = commands.Repository(store, Client, source=SOURCE, sealing=sealing)  # LegalHoldPlaced.reference

    async def case(self, case_id: str, conn: asyncpg.Connection | None = None) -> Case:
        case = await self.cases.load(case_id, conn)
        if not case.exists:
            raise NotFound(f"no case {case_id}: check the id (GET /cases lists the cases you may see)")
        case.client_erased_at = (await self.client(case.client_id, conn)).erased_at
        return case

    async def case_of(self, case_id: str, client: Client, conn: asyncpg.Connection | None = None) -> Case:
        """`case` of a client already loaded (its erasure as `client` has it: no second read of the client)."""
        case = await self.cases.load(case_id, conn)
        if not case.exists:
            raise NotFound(f"no case {case_id}: check the id (GET /cases lists the cases you may see)")
        case.client_erased_at = client.erased_at
        return case

    async def client(self, client_id: str, conn: asyncpg.Connection | None = None) -> Client:
        client = await self.clients.load(client_id, conn)
        if not client.exists:
            raise NotFound(f"no client {client_id}: register the client first (POST /clients)")
        return client

    async def append(self, stream_id: str, version: int, events: list[Event], ctx: CommandContext, *,
                     subject: str | None, municipality: str | None, conn: asyncpg.Connection | None = None,
                     writes: Sequence[Write] = ()) -> int:
        """`writes` (kim_runtime.store.Write): made in the append's own statement, committed with it."""
        appended = await self.cases.append(stream_id, version, events, ctx, uow=conn, subject=subject,
                                           municipality=event_municipality(municipality), key_id=key_id,
                                           writes=writes)
        return appended[-1].stream_version if appended else version
