"""Kafka topic names: one place, so producers, consumers, the AsyncAPI document and deploy agree."""

from __future__ import annotations

import re

SERVICES = ("cases", "staffing", "referrals", "reporting")

# One topic per service's aggregate type: the shared history, retention forever.
SERVICE_TOPICS: dict[str, str] = {s: f"kim.{s}" for s in SERVICES}

# Signed anchors of every store (kim_runtime.anchor): written by every service, read by auditors, kept forever.
ANCHOR_TOPIC = "kim.audit.anchors"

# Partitions per kind of topic, as deploy/kafka-init/topics.txt names them; the defaults of kafka-init.sh in compose
# (KIM_*_TOPIC_PARTITIONS) and the local stack both use these (tests/unit/test_compose_kafka_init.py checks it).
PARTITIONS: dict[str, int] = {"service": 6, "partner": 3, "dlq": 1, "audit": 1}

_ORG_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


def service_topic(service: str) -> str:
    return SERVICE_TOPICS[service]


# A partner topic is the current state of the partner's referrals: compacted (the newest record per key stays; a
# revocation's tombstone removes the key's earlier records, so a new consumer never receives purged data), and
# besides records older than the retention are deleted (cleanup.policy compact,delete). Segments roll daily and
# max.compaction.lag.ms is a day, so compaction and deletion reach a record within about a day whatever the dirty
# ratio. A tombstone is kept as long as the retention (delete.retention.ms; Kafka's default is one day), so a
# partner that reads as often as the docs ask (once per retention) still sees the revocation and purges.
# compose: KIM_PARTNER_TOPIC_RETENTION_MS.
PARTNER_RETENTION_MS = 30 * 24 * 3600 * 1000
SEGMENT_MS = 24 * 3600 * 1000
PARTNER_CLEANUP_POLICY = "compact,delete"


def is_partner_topic(topic: str | None) -> bool:
    return bool(topic) and topic.startswith("kim.partner.")


def topic_configs(topic: str, partner_retention_ms: int = PARTNER_RETENTION_MS) -> dict[str, str]:
    """The configuration a topic is created with: partner topics compacted with a finite retention, every other
    topic kept forever."""
    if is_partner_topic(topic):
        segment_ms = str(min(SEGMENT_MS, partner_retention_ms))
        return {"cleanup.policy": PARTNER_CLEANUP_POLICY, "retention.ms": str(partner_retention_ms),
                "segment.ms": segment_ms, "max.compaction.lag.ms": segment_ms,
                "delete.retention.ms": str(partner_retention_ms)}
    return {"retention.ms": "-1"}


def partner_topic(organisation_id: str) -> str:
    """The topic a partner organisation reads: only its referrals, pseudonymous ids and codes."""
    if not _ORG_ID.match(organisation_id):
        raise ValueError(f"organisation id {organisation_id!r} must match {_ORG_ID.pattern}")
    return f"kim.partner.{organisation_id}"


def partner_group_prefix(organisation_id: str) -> str:
    """Consumer groups a partner may use start with this (its Kafka ACLs allow exactly these)."""
    return f"partner.{organisation_id}."


def partner_kafka_user(organisation_id: str) -> str:
    """The partner's SCRAM user on the Kreis's broker."""
    return f"partner-{organisation_id}"


def dead_letter_topic(consumer_service: str) -> str:
    """Where a consuming service parks events it cannot decode or handle."""
    return f"kim.dlq.{consumer_service}"
