"""Reads of personal data, recorded as events: stream access-<client id> in this service's own store.

The stream is hash-chained like every other one, so the record of who read what cannot be edited unnoticed. It
has no outbox (topic None): who looked at a client's file is internal to the cases service and never goes to Kafka.
"""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
from kim_runtime.auth import Principal
from kim_runtime.envelope import Envelope
from kim_runtime.errors import ConcurrencyConflict
from kim_runtime.store import EventStore

from kim_cases.adapters.events import SOURCE

VIEWED = "kim.cases.PersonalDataViewed"


def access_stream(client_id: str) -> str:
    return f"access-{client_id}"


class AccessLog:
    def __init__(self, pool: asyncpg.Pool):
        self.store = EventStore(pool, topic=None)

    async def record(self, principal: Principal, client_id: str, fields: list[str], via: str,
                     correlation_id: str | None = None) -> None:
        stream = access_stream(client_id)
        event = Envelope(type=VIEWED, source=SOURCE, stream_id=stream, subject=client_id, actor=principal.sub,
                         municipality=principal.municipality, correlation_id=correlation_id,
                         data={"client_id": client_id, "fields": sorted(set(fields)), "via": via,
                               "role": principal.role.value, "viewed_at": datetime.now(UTC).isoformat()})
        for _ in range(10):  # concurrent readers of one client: take the next version and try again
            try:
                await self.store.append(stream, [event], await self.store.stream_version(stream))
                return
            except ConcurrencyConflict:
                continue
        raise RuntimeError(f"could not record the read of client {client_id}'s personal data; try again")

    async def reads(self, client_id: str) -> list[dict]:
        return [{"version": e.stream_version, "time": e.time.isoformat(), "actor": e.actor, **e.data}
                for e in await self.store.read_stream(access_stream(client_id))]
