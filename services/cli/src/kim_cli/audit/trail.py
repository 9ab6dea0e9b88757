"""Collecting one case's trail from every service's store, in time order, with causes resolved.

cases: the case's stream, its client's stream, the client's record of personal-data reads (access-<client>) and
every event naming the case or the client (exports recorded by `kim audit` included). Other services: every
event naming the case id or the client id, and every stream that began with one (a referral's later events).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

_COLUMNS = "event_id::text, stream_id, version, type, schema_version, occurred_at, metadata, data, position"
_CASES = f"""
SELECT {_COLUMNS} FROM events
WHERE stream_id = ANY($1) OR data->>'case_id' = $2 OR data->>'client_id' = $3
"""
_OTHER = f"""
WITH began AS (SELECT stream_id FROM events
               WHERE version = 1 AND (data->>'case_id' = $2 OR data->>'client_id' = $3)
               UNION  -- a partner stream, named by its unpublished link (a stream of its own since contract 2.0.0)
               SELECT data->>'partner_referral_id' FROM events
               WHERE type = 'kim.referrals.PartnerViewOpened' AND data->>'case_id' = $2)
SELECT {_COLUMNS} FROM events
WHERE stream_id = ANY($1) OR data->>'case_id' = $2 OR data->>'client_id' = $3
   OR stream_id IN (SELECT stream_id FROM began)
"""
_BY_ID = "SELECT event_id::text, stream_id, version, type FROM events WHERE event_id = ANY($1::uuid[])"


@dataclass(frozen=True)
class Entry:
    service: str
    event_id: str
    stream_id: str
    version: int
    type: str
    time: datetime
    actor: str | None
    causation_id: str | None
    correlation_id: str | None
    data: dict
    schema_version: int = 1
    caused_by: str = ""

    def short_type(self) -> str:
        return self.type.rsplit(".", 1)[-1]


def _entry(service: str, row: asyncpg.Record, withhold=None) -> Entry:
    meta = row["metadata"] or {}
    data = withhold(row["data"]) if withhold is not None else row["data"]
    return Entry(service, row["event_id"], row["stream_id"], row["version"], row["type"], row["occurred_at"],
                 meta.get("actor"), meta.get("causation_id"), meta.get("correlation_id"), data,
                 row["schema_version"])


async def client_of(cases: asyncpg.Pool, case_id: str) -> str | None:
    """The client of a case (from its CaseOpened), or None when the cases store has no such case."""
    async with cases.acquire() as conn:
        return await conn.fetchval(
            "SELECT data->>'client_id' FROM events WHERE stream_id = $1 AND type = 'kim.cases.CaseOpened' "
            "ORDER BY version LIMIT 1", case_id)


def from_answer(e: dict) -> tuple[datetime, str, int, Entry]:
    """One event of the cases service's answer (GET /audit/cases/{case_id}), as a trail entry with its sort key."""
    time = datetime.fromisoformat(e["time"])
    return (time, e["service"], e["position"],
            Entry(e["service"], e["event_id"], e["stream_id"], e["version"], e["type"], time, e.get("actor"),
                  e.get("causation_id"), e.get("correlation_id"), e["data"], e.get("schema_version", 1)))


async def collect(stores: dict[str, asyncpg.Pool], case_id: str, client_id: str,
                  cases_events: list[dict] | None = None, withhold=None) -> list[Entry]:
    """Every store's events of the case, ordered by time (then service and position), causes resolved. With
    `cases_events` (the cases service's answer, personal data opened or withheld there) the cases store is not read
    for the trail, only to resolve causes; `withhold` replaces any encrypted value the CLI read itself."""
    entries: list[tuple[datetime, str, int, Entry]] = []
    if cases_events is not None:
        entries += [from_answer(e) for e in cases_events]
    for service, pool in stores.items():
        if service == "cases" and cases_events is not None:
            continue
        sql = _CASES if service == "cases" else _OTHER
        async with pool.acquire() as conn:
            rows = await conn.fetch(sql, [case_id, client_id, f"access-{client_id}"], case_id, client_id)
        entries += [(r["occurred_at"], service, r["position"], _entry(service, r, withhold)) for r in rows]
    trail = [e for *_, e in sorted(entries, key=lambda t: t[:3])]
    return await _resolve_causes(stores, trail)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return False
    return True


async def _resolve_causes(stores: dict[str, asyncpg.Pool], trail: list[Entry]) -> list[Entry]:
    """caused_by: the event a causation id names (searched in every store), else the command it names."""
    known = {e.event_id: f"{e.service} {e.short_type()} ({e.stream_id} v{e.version})" for e in trail}
    wanted = sorted({e.causation_id for e in trail if e.causation_id and e.causation_id not in known
                     and _is_uuid(e.causation_id)})
    for service, pool in stores.items():
        if not wanted:
            break
        async with pool.acquire() as conn:
            for r in await conn.fetch(_BY_ID, wanted):
                known[r["event_id"]] = f"{service} {r['type'].rsplit('.', 1)[-1]} ({r['stream_id']} v{r['version']})"
        wanted = [w for w in wanted if w not in known]
    out = []
    for e in trail:
        cause = known.get(e.causation_id) or (f"command {e.causation_id}" if e.causation_id else "")
        out.append(Entry(**{**e.__dict__, "caused_by": cause}))
    return out
