"""Checks of a store's rows that the hash chains and anchors cannot make: an insider with the service's own role
(kim_<service>_app) may call kim_append, and whatever it appends is chained and anchored like a real event.

misdated     An event whose times do not fit when it was recorded. Every event is stamped with the time of the
             command that made it (the envelope's time, occurred_at), and the store stamps recorded_at in the same
             transaction; so |recorded_at - occurred_at| beyond TOLERANCE means the time was forged (a back-dated
             event). Business dates that may lie in the past legitimately (casework recorded later: opened_on,
             granted_on, held_on, ...; ConsentExpired's expired_at and ConsentWithdrawn's effective_at) are
             dates in the data and are not compared; the data's command-time fields (COMMAND_TIME_FIELDS, e.g.
             requested_at, checked_at, erased_at) are.
unpublished  An event of a published contract type (kim_schemas) that has no outbox row, so it never reached Kafka
             and no consumer ever saw it; one whose outbox row names a topic other than its type's; or one whose
             outbox row is still unsent after the relay's HORIZON. (Events outside the contract, such as the access
             log, the audit streams and the partner-view links, are never published and are not reported.)
shredded     (cases) A registered client whose data key is gone from client_keys although no ClientErased records an
             erasure: the service's own role may delete a key (erasure does), so an insider could destroy a
             client's personal data with no event, no `kim audit erasures` entry and no other finding.
unsealed     An event recorded after the store's first sealed event without a valid writer seal from a trusted audit
             key (kim_runtime.anchor: the service process signs every event it appends, over its id, stream,
             type, time, metadata with the command's actor, and data; the database role cannot): appended around
             the service, e.g. by kim_append with the service's own role, or changed after it was sealed. This
             holds for the records of `kim audit` itself too (kim.audit.* and a client's access log entries via
             "kim audit ..."): the cases service writes and seals them (GET /audit/cases/{id}, POST /audit/records), so an unsealed one
             was forged.
"""

from __future__ import annotations

from datetime import timedelta

import asyncpg
from kim_schemas import EVENT_TYPES

from kim_runtime.anchor import SEAL, event_digest, seal_problem
from kim_runtime.topics import SERVICE_TOPICS

TOLERANCE = timedelta(hours=1)
HORIZON = timedelta(minutes=15)  # the relay publishes within seconds; an unsent row this old is not on its way
COMMAND_TIME_FIELDS = ("requested_at", "accepted_at", "declined_at", "scheduled_at", "reported_at", "closed_at",
                       "revoked_at", "checked_at", "generated_at", "approved_at", "erased_at", "offered_at",
                       "placed_at", "lifted_at")

_MISDATED = r"""
SELECT stream_id, version, event_id::text, type, occurred_at, recorded_at, metadata->>'actor' AS actor,
       'occurred_at' AS field, occurred_at AS claimed
FROM events WHERE abs(extract(epoch FROM recorded_at - occurred_at)) > $1
UNION ALL
SELECT e.stream_id, e.version, e.event_id::text, e.type, e.occurred_at, e.recorded_at, e.metadata->>'actor',
       f.key, f.value::timestamptz
FROM events e
CROSS JOIN LATERAL jsonb_each_text(CASE WHEN jsonb_typeof(e.data) = 'object' THEN e.data ELSE '{}' END) f
WHERE e.type LIKE 'kim.%' AND f.key = ANY($2::text[])
  AND f.value ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)$'
  AND abs(extract(epoch FROM e.recorded_at - f.value::timestamptz)) > $1
ORDER BY 1, 2, 8
"""

_UNPUBLISHED = """
SELECT e.stream_id, e.version, e.event_id::text, e.type, e.recorded_at, e.metadata->>'actor' AS actor,
       o.position IS NOT NULL AS has_row, o.topic, o.sent_at
FROM events e
JOIN unnest($1::text[], $2::int[]) AS c (type, schema_version) USING (type, schema_version)
LEFT JOIN outbox o USING (position)
WHERE o.position IS NULL OR (o.sent_at IS NULL AND e.recorded_at < now() - $3::interval)
   OR NOT (o.topic = $4 OR o.topic LIKE $4 || '.%' OR (e.type LIKE 'kim.partner.%' AND o.topic LIKE 'kim.partner.%'))
ORDER BY e.stream_id, e.version
"""


_SHREDDED = """
SELECT e.stream_id, e.version, e.event_id::text, e.type, e.recorded_at, e.metadata->>'actor' AS actor
FROM events e
WHERE e.type = 'kim.cases.ClientRegistered'
  AND NOT EXISTS (SELECT 1 FROM client_keys k WHERE k.client_id = e.stream_id)
  AND NOT EXISTS (SELECT 1 FROM events x WHERE x.stream_id = e.stream_id AND x.type = 'kim.cases.ClientErased')
ORDER BY e.stream_id
"""


def _topic_of(event_type: str, service: str, overrides: dict[str, str]) -> str:
    family = event_type.split(".")[1]
    return overrides.get(family) or SERVICE_TOPICS.get(family) or SERVICE_TOPICS.get(service, "")


async def check_store(pool: asyncpg.Pool, service: str, finding, topic_of: dict[str, str] | None = None) -> list:
    """Every misdated and unpublished event of the service's store, as `finding(kind, detail, **where)` makes them."""
    overrides = topic_of or {}
    out = []
    contract = sorted(EVENT_TYPES)
    mine = [(t, v) for t, v in contract if t.split(".")[1] in (service, "partner" if service == "referrals" else "")]
    async with pool.acquire() as conn:
        misdated = await conn.fetch(_MISDATED, TOLERANCE.total_seconds(), list(COMMAND_TIME_FIELDS))
        unpublished = await conn.fetch(_UNPUBLISHED, [t for t, _ in mine], [v for _, v in mine], HORIZON,
                                       overrides.get(service) or SERVICE_TOPICS.get(service, ""))
        shredded = (await conn.fetch(_SHREDDED) if service == "cases"
                    and await conn.fetchval("SELECT to_regclass('client_keys') IS NOT NULL") else [])
    for r in misdated:
        gap = r["recorded_at"] - r["claimed"]
        when = "before" if gap > timedelta(0) else "after"
        out.append(finding("misdated", f"{r['type']}: {r['field']} {r['claimed'].isoformat()} lies {_span(gap)} "
                           f"{when} it was recorded ({r['recorded_at'].isoformat()}); a command's time is its "
                           f"recording time within {_span(TOLERANCE)}: back-dated or forged",
                           stream=r["stream_id"], version=r["version"], event_id=r["event_id"],
                           time=r["recorded_at"].isoformat(), actor=r["actor"]))
    for r in unpublished:
        expected = _topic_of(r["type"], service, overrides)
        if not r["has_row"]:
            why = (f"{r['type']} is published on {expected}, but this event has no outbox row: it never reached "
                   "Kafka and no consumer saw it (appended around the service, e.g. by calling kim_append directly)")
        elif not (r["topic"] == expected or r["topic"].startswith(expected + ".") or (
                r["type"].startswith("kim.partner.") and r["topic"].startswith("kim.partner."))):
            why = f"{r['type']}: its outbox row sends it to {r['topic']}, not to {expected}"
        else:
            why = (f"{r['type']}: its outbox row is still unsent {_span(HORIZON)} after it was recorded (the relay "
                   "publishes within seconds): is the relay running?")
        out.append(finding("unpublished", why, stream=r["stream_id"], version=r["version"], event_id=r["event_id"],
                           time=r["recorded_at"].isoformat(), actor=r["actor"]))
    for r in shredded:
        out.append(finding("shredded", f"client {r['stream_id']}: its data key is gone from client_keys, but no "
                           "kim.cases.ClientErased records an erasure: the personal data was destroyed around the "
                           "service (a key deleted with the service's database role or the owner's); version 1 is its registration",
                           stream=r["stream_id"], version=r["version"], event_id=r["event_id"]))
    return out


def _span(delta: timedelta) -> str:
    seconds = abs(delta.total_seconds())
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.0f} days"
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 60:.0f} min"


_FIRST_SEALED = "SELECT min(position) FROM events WHERE metadata ? 'seal'"
_AFTER = """
SELECT position, event_id::text AS event_id, stream_id, version, type, schema_version, occurred_at, recorded_at,
       metadata, data
FROM events WHERE position >= $1 AND position > $2 ORDER BY position LIMIT $3
"""
BATCH = 5000


async def check_seals(pool: asyncpg.Pool, trusted: dict, finding) -> tuple[list, int]:
    """Every event from the store's first sealed one on whose writer seal does not hold; and how many were checked."""
    out, checked, after = [], 0, 0
    async with pool.acquire() as conn:
        first = await conn.fetchval(_FIRST_SEALED)
        if first is None:
            return [], 0
        while rows := await conn.fetch(_AFTER, first, after, BATCH):
            for r in rows:
                after = r["position"]
                meta = r["metadata"] or {}
                checked += 1
                digest = event_digest(r["event_id"], r["stream_id"], r["type"], r["schema_version"],
                                      r["occurred_at"], meta, r["data"])
                problem = seal_problem(meta.get(SEAL), digest, trusted)
                if problem:
                    out.append(finding("unsealed", f"{r['type']}: {problem}", stream=r["stream_id"],
                                       version=r["version"], event_id=r["event_id"],
                                       time=r["recorded_at"].isoformat(), actor=meta.get("actor")))
    return out, checked
