"""`kim audit verify`: every store's hash chains, and each topic against the store that publishes it.

A store event counts as published once its outbox row is marked sent; the topic must then hold a record with the
same event id, stream (key), type and value (compared as a SHA-256 of the canonical JSON). Findings: events missing
from Kafka, extra records in Kafka that no store has, and records that differ from their stored event.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import asyncpg

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


@dataclass
class TopicReport:
    topic: str
    matched: int = 0
    unpublished: int = 0
    missing: list[tuple[str, Fingerprint]] = field(default_factory=list)  # in the store, not in Kafka
    extra: list[tuple[str, Fingerprint | None]] = field(default_factory=list)  # in Kafka, in no store
    differing: list[tuple[str, Fingerprint, Fingerprint]] = field(default_factory=list)  # (id, store, kafka)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.extra or self.differing)


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
                     version.isdigit() else None)
    return headers.get("ce_id"), fp


async def compare_topic(pool: asyncpg.Pool, bootstrap: str, topic: str) -> TopicReport:
    report = TopicReport(topic)
    stored: dict[str, Fingerprint] = {}
    pending: set[str] = set()  # not marked sent yet: may or may not be in Kafka already
    async with pool.acquire() as conn:
        for r in await conn.fetch(_PUBLISHED, topic):
            stored[r["event_id"]] = Fingerprint(r["stream_id"], r["type"], value_hash(r["data"]), r["version"])
            if not r["sent"]:
                pending.add(r["event_id"])
    seen: set[str] = set()
    async for records in read_topic(bootstrap, topic):
        for record in records:
            event_id, fp = _kafka_fingerprint(record)
            mine = stored.get(event_id) if event_id else None
            if mine is None:
                report.extra.append((event_id or f"{topic}[{record.partition}]@{record.offset} (no ce_id)", fp))
            elif (mine.stream_id, mine.type, mine.value) != (fp.stream_id, fp.type, fp.value):
                report.differing.append((event_id, mine, fp))
            elif event_id not in seen:
                report.matched += 1
            if event_id:
                seen.add(event_id)
    report.missing = [(i, fp) for i, fp in stored.items() if i not in seen and i not in pending]
    report.unpublished = len(pending - seen)
    return report
