"""CSV rendering of cells, and every export recorded as an event in this service's own store.

Each export is one event (`kim.reporting.CsvExported`) in a stream of its own (`export-<id>`): who (actor and role),
when, what (indicators or a report, with the period and parameters asked for), how many rows and the SHA-256 of the
exact bytes handed out. The store's chain and signed checkpoints cover these streams like every other one, so an
export cannot be removed or altered unnoticed; the content hash lets anyone check a file against its record. Like the
cases service's access log these events have no outbox (topic None): they never go to Kafka. `GET /exports` lists them.
"""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import UTC, datetime

import asyncpg
from kim_runtime.auth import Principal
from kim_runtime.envelope import Envelope, new_id
from kim_runtime.store import EventStore, row_to_envelope

from kim_reporting.adapters.events import SOURCE

COLUMNS = ("period", "indicator", "municipality", "baustein", "dimension", "dimension_value", "value", "suppressed")
EXPORTED = "kim.reporting.CsvExported"


def to_csv(rows: list[dict]) -> str:
    """rows: public cells ({'period', 'indicator', 'municipality', 'baustein', 'dimensions', 'value', 'suppressed'})."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in rows:
        (dim, dim_value), = r["dimensions"].items() or [("", "")]
        writer.writerow([r["period"], r["indicator"], r["municipality"] or "alle", r["baustein"] or "alle", dim,
                         dim_value, "" if r["value"] is None else r["value"], "true" if r["suppressed"] else "false"])
    return out.getvalue()


def content_sha256(content: str) -> str:
    """The SHA-256 (hex) of the bytes an export hands out (UTF-8, as the response sends them)."""
    return hashlib.sha256(content.encode()).hexdigest()


async def record_export(store: EventStore, principal: Principal, what: str, parameters: dict, rows: int,
                        content: str, correlation_id: str | None = None) -> dict:
    """Append the export's event (a new stream, so concurrent exports never contend; through the service's store,
    unpublished, so it carries the service's writer seal) and return its listing entry."""
    export_id = new_id()
    event = Envelope(type=EXPORTED, source=SOURCE, stream_id=f"export-{export_id}", actor=principal.sub,
                     municipality=principal.municipality, correlation_id=correlation_id or new_id(),
                     data={"export_id": export_id, "what": what, "parameters": parameters, "rows": rows,
                           "content_sha256": content_sha256(content), "role": principal.role.value,
                           "exported_at": datetime.now(UTC).isoformat()})
    await store.routed(None).append(event.stream_id, [event], 0)
    return _entry(event)


def _entry(env: Envelope) -> dict:
    return {**env.data, "actor": env.actor, "stream_id": env.stream_id}


async def exports(pool: asyncpg.Pool, limit: int, offset: int = 0) -> list[dict]:
    """The recorded exports, newest first."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT position, event_id, stream_id, version, type, schema_version, occurred_at, metadata, data "
            "FROM events WHERE type = $1 ORDER BY position DESC LIMIT $2 OFFSET $3", EXPORTED, limit, offset)
    return [_entry(row_to_envelope(r)) for r in rows]
