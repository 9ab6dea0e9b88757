"""What `kim audit` records about itself: exports of trails and reads of personal data, as events.

Stream ``audit-<YYYY-MM-DD>`` (UTC day) in the cases service's store: hash-chained like every stream (so `kim audit
verify` covers it), no outbox (who audited what stays inside the cases database; it never goes to Kafka).
Type ``kim.audit.TrailExported`` (a trail, answer or list shown on stdout or written to a file; reads of personal data in clear go to the client's own access log, as the APIs'
reads do: kim_cases.adapters.access_log); data names the case and the client, so the
case's own trail lists them. Recorded before the output is written: if recording fails, nothing is shown.
"""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from kim_runtime.auth import Principal
from kim_runtime.envelope import Envelope, new_id
from kim_runtime.errors import ConcurrencyConflict
from kim_runtime.store import EventStore

SOURCE = "/kim/audit"
EXPORTED = "kim.audit.TrailExported"


def audit_stream(day: datetime) -> str:
    return f"audit-{day.astimezone(UTC).date().isoformat()}"


async def record(cases: asyncpg.Pool, who: Principal, events: list[tuple[str, dict]], *, subject: str | None) -> None:
    """Append (type, data) pairs to today's audit stream under the caller's verified token (its subject is the
    actor, its role is in the data; there is no free-text actor); concurrent auditors retry on the next version."""
    now = datetime.now(UTC)
    stream, store, correlation = audit_stream(now), EventStore(cases, topic=None), new_id()
    envelopes = [Envelope(type=t, source=SOURCE, stream_id=stream, subject=subject, actor=who.sub, time=now,
                          correlation_id=correlation,
                          data={**data, "role": who.role.value, "at": now.isoformat()}) for t, data in events]
    for _ in range(20):
        try:
            await store.append(stream, envelopes, await store.stream_version(stream))
            return
        except ConcurrencyConflict:
            continue
    raise RuntimeError(f"could not record the audit events in stream {stream}; try again")
