"""A partner topic is the current state, compacted (a revocation's tombstone removes the key's records), and keeps
records for a limited time besides (30 days by default). The referrals service creates the topic so at registration, as kafka-init
does in compose (tests/unit/test_compose_kafka_init.py)."""

from __future__ import annotations

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from kim_runtime.topics import PARTNER_RETENTION_MS, partner_topic

from .support import eventually, new_org, referrals_service, register

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def _configs(bootstrap: str, topic: str) -> dict[str, str] | None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        if topic not in await admin.list_topics():
            return None
        [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        [(_, _, _, _, entries)] = response.resources
        return {name: value for name, value, *_ in entries}
    finally:
        await admin.close()


async def test_a_registered_partners_topic_keeps_records_30_days_in_daily_segments(fresh_db, kafka_bootstrap):
    org = new_org("ret")
    async with referrals_service(fresh_db, kafka_bootstrap) as client:
        await register(client, org)
        configs = await eventually(lambda: _configs(kafka_bootstrap, partner_topic(org)))
    assert configs["retention.ms"] == str(PARTNER_RETENTION_MS) == "2592000000"
    assert configs["segment.ms"] == "86400000"
    assert configs["cleanup.policy"] == "compact,delete"  # the current state: a tombstone removes the key
