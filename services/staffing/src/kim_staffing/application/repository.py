"""Loading aggregates from the store and appending their decisions, inside the caller's transaction."""

from __future__ import annotations

import asyncpg
from kim_runtime.errors import RuleViolation
from kim_runtime.store import EventStore
from kim_schemas.base import Event, parse

from ..adapters.events import Context, envelope


class Repository:
    def __init__(self, pool: asyncpg.Pool, store: EventStore):
        self.pool, self.store = pool, store

    async def load(self, conn, aggregate, stream_id: str, kinds: tuple[type[Event], ...]):
        """Apply the stream's events to `aggregate`; refuse a stream id that another kind of record uses."""
        for env in await self.store.read_stream(stream_id, conn=conn):
            event = parse(env.type, env.schema_version, env.data)
            if not isinstance(event, kinds):
                raise RuleViolation(f"id {stream_id} is already used by a {env.type.rsplit('.', 1)[1]} stream: "
                                    "choose another id")
            aggregate.apply(event)
        return aggregate

    async def append(self, conn, aggregate, event: Event, ctx: Context, municipality: str | None = None):
        """Append one decision at the aggregate's version, then apply it; returns the envelope."""
        env = envelope(event, ctx, municipality=municipality)
        await self.store.append(event.stream_id(), [env], aggregate.version, conn=conn)
        aggregate.apply(event)
        return env
