"""Reads of personal data, recorded as events: stream access-<client id> in this service's own store.

The stream is hash-chained like every other one, so the record of who read what cannot be edited unnoticed. It
has no outbox (topic None): who looked at a client's file is internal to the cases service and never goes to Kafka.
"""

from __future__ import annotations

from datetime import UTC, datetime

from kim_runtime.auth import Principal
from kim_runtime.envelope import Envelope
from kim_runtime.errors import ConcurrencyConflict
from kim_runtime.store import EventStore

from kim_cases.adapters.events import SOURCE

VIEWED = "kim.cases.PersonalDataViewed"


def access_stream(client_id: str) -> str:
    return f"access-{client_id}"


class AccessLog:
    def __init__(self, store: EventStore):
        self.store = store.routed(None)  # never published; sealed with a receipt on every append (store.receipts)

    async def record(self, principal: Principal, client_id: str, fields: list[str], via: str,
                     correlation_id: str | None = None) -> int:
        """Append the read to the client's access log; its version there."""
        stream = access_stream(client_id)
        event = Envelope(type=VIEWED, source=SOURCE, stream_id=stream, subject=client_id, actor=principal.sub,
                         municipality=principal.municipality, correlation_id=correlation_id,
                         data={"client_id": client_id, "fields": sorted(set(fields)), "via": via,
                               "role": principal.role.value, "viewed_at": datetime.now(UTC).isoformat()})
        # concurrent readers of one client: take the next version and try again
        return await _append_next(self.store, event, 10,
                                  f"could not record the read of client {client_id}'s personal data; try again")

    async def reads(self, client_id: str) -> list[dict]:
        return [{"version": e.stream_version, "time": e.time.isoformat(), "actor": e.actor, **e.data}
                for e in await self.store.read_stream(access_stream(client_id))]


# -- what `kim audit` records about itself ------------------------------------------------------------------------
# Stream audit-<YYYY-MM-DD> (UTC day) in this store, no outbox. Written here, by the service, so each record carries
# the service's writer seal (kim_runtime.anchor): the CLI holds no signing key, and a record it could not seal would
# be one an insider could forge. GET /audit/cases/{id} writes it as it answers `kim audit case`; the CLI asks for
# the others through POST /audit/records (entrypoints/audit_api.py).
AUDIT_SOURCE = "/kim/audit"
EXPORTED = "kim.audit.TrailExported"


def audit_stream(day: datetime) -> str:
    return f"audit-{day.astimezone(UTC).date().isoformat()}"


class AuditLog:
    def __init__(self, store: EventStore):
        self.store = store.routed(None)

    async def record(self, principal: Principal, data: dict, *, subject: str | None,
                     correlation_id: str | None = None) -> tuple[str, int]:
        """Append one kim.audit.TrailExported to today's audit stream under the caller's verified token (its subject
        is the actor, its role is in the data); concurrent auditors retry on the next version."""
        now = datetime.now(UTC)
        stream = audit_stream(now)
        event = Envelope(type=EXPORTED, source=AUDIT_SOURCE, stream_id=stream, subject=subject, actor=principal.sub,
                         time=now, correlation_id=correlation_id,
                         data={**data, "role": principal.role.value, "at": now.isoformat()})
        return stream, await _append_next(self.store, event, 20,
                                          f"could not record the audit event in stream {stream}; try again")


async def _append_next(store: EventStore, event: Envelope, attempts: int, failure: str) -> int:
    """Append `event` at its stream's next version, trying again on a concurrent append; the version it got."""
    for _ in range(attempts):
        try:
            recorded = await store.append(event.stream_id, [event], await store.stream_version(event.stream_id))
            return recorded[-1].envelope.stream_version
        except ConcurrencyConflict:
            continue
    raise RuntimeError(failure)
