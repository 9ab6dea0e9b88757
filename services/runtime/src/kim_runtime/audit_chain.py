"""Verify every stream's hash chain: finds edited, removed and reordered events (and a cut-off stream head)."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

_LINKS = r"""
WITH e AS (
    SELECT stream_id, version, prev_hash, hash,
           sha256(prev_hash || kim_event_digest_input(event_id, stream_id, version, type, schema_version,
                                                      occurred_at, metadata, data)) AS recomputed,
           lag(hash) OVER w AS predecessor_hash,
           lag(version) OVER w AS predecessor_version
    FROM events
    WHERE $1::text IS NULL OR stream_id = $1
    WINDOW w AS (PARTITION BY stream_id ORDER BY version)
)
SELECT stream_id, version,
       CASE WHEN version <> coalesce(predecessor_version, 0) + 1
                THEN format('version %s follows %s: an event was removed', version, coalesce(predecessor_version, 0))
            WHEN recomputed <> hash
                THEN 'the content does not match its hash: the event was edited or moved'
            ELSE 'the link to the predecessor is broken: an event was removed or reordered'
       END AS problem
FROM e
WHERE recomputed <> hash OR prev_hash <> coalesce(predecessor_hash, '\x'::bytea)
   OR version <> coalesce(predecessor_version, 0) + 1
ORDER BY stream_id, version
LIMIT 1
"""

_HEADS = r"""
SELECT s.stream_id, s.version,
       'the stream head does not match its last event: events at the end were removed or edited' AS problem
FROM streams s
LEFT JOIN LATERAL (SELECT version, hash FROM events e WHERE e.stream_id = s.stream_id
                   ORDER BY version DESC LIMIT 1) last ON true
WHERE ($1::text IS NULL OR s.stream_id = $1)
  AND (last.version IS DISTINCT FROM s.version OR last.hash IS DISTINCT FROM s.last_hash)
  AND s.version > 0
ORDER BY s.stream_id
LIMIT 1
"""


@dataclass(frozen=True)
class Break:
    stream_id: str
    version: int
    problem: str


@dataclass(frozen=True)
class ChainReport:
    streams: int
    events: int
    first_break: Break | None

    @property
    def ok(self) -> bool:
        return self.first_break is None


async def verify_chains(pool: asyncpg.Pool, stream_id: str | None = None) -> ChainReport:
    async with pool.acquire() as conn:
        link = await conn.fetchrow(_LINKS, stream_id)
        head = None if link else await conn.fetchrow(_HEADS, stream_id)
        streams = await conn.fetchval(
            "SELECT count(*) FROM streams WHERE $1::text IS NULL OR stream_id = $1", stream_id
        )
        events = await conn.fetchval(
            "SELECT count(*) FROM events WHERE $1::text IS NULL OR stream_id = $1", stream_id
        )
    found = link or head
    return ChainReport(streams, events, Break(found["stream_id"], found["version"], found["problem"]) if found else None)
