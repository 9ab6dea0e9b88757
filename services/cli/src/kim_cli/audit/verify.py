"""`kim audit verify`: every store's hash chains, and each topic against the store that publishes it.

A store event counts as published once its outbox row is marked sent; the topic must then hold a record with the
same event id, stream (key), type and value (compared as a SHA-256 of the canonical JSON). Findings: events missing
from Kafka, extra records in Kafka that no store has, records that differ from their stored event, an event id the
topic holds more than once, and a stream version (ce_streamversion) that goes backwards for a key within a partition
(consumers would apply it out of order). Each of the last two names partition, offset and record time of both records.
A partner topic is compacted: there only the newest record of each key must be on it (an older one, or every record
of a key whose newest is a tombstone, is removed by compaction, not missing).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
import kim_schemas  # noqa: F401  (registers the tombstone types)
from kim_runtime.envelope import TOMBSTONE_TYPES
from kim_runtime.topics import is_partner_topic

from kim_runtime.audit_chain import ChainReport, verify_chains

from kim_cli.audit.kafka_io import read_topic


def value_hash(data) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
                          .encode()).hexdigest()


@dataclass(frozen=True)
class Fingerprint:
    stream_id: str
    type: str
    value: str  # value_hash of the data
    version: int | None = None
    source: str = ""  # ce_source: the producer
    actor: str = ""  # ce_actor


@dataclass(frozen=True)
class Sighting:
    """Where a record sits in the topic."""

    partition: int
    offset: int
    timestamp_ms: int
    version: int | None = None

    @property
    def time(self) -> str:
        return datetime.fromtimestamp(self.timestamp_ms / 1000, UTC).isoformat(timespec="milliseconds")

    def __str__(self) -> str:
        return f"partition {self.partition} offset {self.offset} at {self.time}"


@dataclass
class TopicReport:
    topic: str
    matched: int = 0
    unpublished: int = 0
    missing: list[tuple[str, Fingerprint]] = field(default_factory=list)  # in the store, not in Kafka
    extra: list[tuple[str, Fingerprint, Sighting]] = field(default_factory=list)  # in Kafka, in no store
    differing: list[tuple[str, Fingerprint, Fingerprint]] = field(default_factory=list)  # (id, store, kafka)
    repeated: list[tuple[str, Sighting, Sighting]] = field(default_factory=list)  # (id, first, again)
    backwards: list[tuple[str, Sighting, Sighting]] = field(default_factory=list)  # (key, earlier, later lower)

    @property
    def findings(self) -> int:
        return len(self.missing) + len(self.extra) + len(self.differing) + len(self.repeated) + len(self.backwards)

    @property
    def ok(self) -> bool:
        return not self.findings


_PUBLISHED = """
SELECT e.event_id::text, e.stream_id, e.version, e.type, e.data, o.sent_at IS NOT NULL AS sent
FROM events e JOIN outbox o USING (position) WHERE o.topic = $1
"""


async def store_topics(pool: asyncpg.Pool) -> list[str]:
    async with pool.acquire() as conn:
        return [r["topic"] for r in await conn.fetch("SELECT DISTINCT topic FROM outbox ORDER BY topic")]


async def chains(pool: asyncpg.Pool) -> ChainReport:
    return await verify_chains(pool)


def _kafka_fingerprint(record) -> tuple[str | None, Fingerprint | None]:
    headers = {k: v.decode(errors="replace") for k, v in record.headers or ()}
    try:
        data = json.loads(record.value or b"null")
    except ValueError:
        data = None
    key = record.key.decode(errors="replace") if record.key is not None else ""
    version = headers.get("ce_streamversion")
    fp = Fingerprint(key, headers.get("ce_type", ""), value_hash(data), int(version) if version and
                     version.isdigit() else None, headers.get("ce_source", ""), headers.get("ce_actor", ""))
    return headers.get("ce_id"), fp


async def compare_topic(pool: asyncpg.Pool, bootstrap: str, topic: str) -> TopicReport:
    report = TopicReport(topic)
    stored: dict[str, Fingerprint] = {}
    pending: set[str] = set()  # not marked sent yet: may or may not be in Kafka already
    async with pool.acquire() as conn:
        for r in await conn.fetch(_PUBLISHED, topic):
            data = None if r["type"] in TOMBSTONE_TYPES else r["data"]  # published with a null value
            stored[r["event_id"]] = Fingerprint(r["stream_id"], r["type"], value_hash(data), r["version"])
            if not r["sent"]:
                pending.add(r["event_id"])
    seen: dict[str, Sighting] = {}
    newest: dict[tuple[int, str], Sighting] = {}  # (partition, key) -> the record with the highest version so far
    async for records in read_topic(bootstrap, topic):
        for record in records:
            event_id, fp = _kafka_fingerprint(record)
            here = Sighting(record.partition, record.offset, record.timestamp, fp.version)
            if event_id and event_id in seen:
                report.repeated.append((event_id, seen[event_id], here))
            if fp.version is not None:
                before = newest.get((record.partition, fp.stream_id))
                if before is not None and fp.version < before.version:
                    report.backwards.append((fp.stream_id, before, here))
                elif before is None or fp.version > before.version:
                    newest[(record.partition, fp.stream_id)] = here
            mine = stored.get(event_id) if event_id else None
            if mine is None:
                report.extra.append((event_id or "(no ce_id)", fp, here))
            elif (mine.stream_id, mine.type, mine.value) != (fp.stream_id, fp.type, fp.value):
                report.differing.append((event_id, mine, fp))
            elif event_id not in seen:
                report.matched += 1
            if event_id:
                seen.setdefault(event_id, here)
    report.missing = [(i, fp) for i, fp in stored.items() if i not in seen and i not in pending]
    if is_partner_topic(topic):  # compacted: superseded records, and a tombstoned key's, are gone by design
        newest: dict[str, Fingerprint] = {}
        for fp in stored.values():
            if fp.stream_id not in newest or (fp.version or 0) > (newest[fp.stream_id].version or 0):
                newest[fp.stream_id] = fp
        report.missing = [(i, fp) for i, fp in report.missing
                          if newest[fp.stream_id] is fp and fp.type not in TOMBSTONE_TYPES]
    report.unpublished = len(pending - seen.keys())
    return report
