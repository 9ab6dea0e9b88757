"""The broker runs with the compose settings, and deploy/kafka-init/kafka-init.sh (run for real) made the topics
compose's environment asks for."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from tests.rehearsal.topology import PARTNERS, Rehearsal
from kim_runtime.topics import PARTITIONS


def test_the_broker_runs_with_the_compose_security_settings(rehearsal: Rehearsal):
    props = rehearsal.kafka_properties()
    assert props["authorizer.class.name"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["super.users"] == "User:kim-admin;User:ANONYMOUS"
    assert props["listener.security.protocol.map"] == ("CLIENT:SASL_PLAINTEXT,EXTERNAL:SASL_PLAINTEXT,PARTNER:SASL_SSL,"
                                                       "CONTROLLER:PLAINTEXT")
    assert props["listener.name.partner.ssl.keystore.location"] == str(rehearsal.tls / "broker.p12")
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"


async def test_kafka_init_made_every_topic_with_its_partitions_and_retention(rehearsal: Rehearsal):
    admin = AIOKafkaAdminClient(bootstrap_servers=rehearsal.bootstrap, **rehearsal.admin_options())
    await admin.start()
    try:
        wanted = {**{f"kim.{s}": PARTITIONS["service"] for s in ("cases", "staffing", "referrals", "reporting")},
                  **{f"kim.dlq.{s}": PARTITIONS["dlq"] for s in ("cases", "staffing", "referrals", "reporting")},
                  "kim.audit.anchors": 1, **{f"kim.partner.{org}": PARTITIONS["partner"] for org in PARTNERS}}
        described = {t["topic"]: len(t["partitions"]) for t in await admin.describe_topics(list(wanted))}
        assert described == wanted
        configs = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)
                                                for name in ("kim.cases", f"kim.partner.{PARTNERS[0]}")])
    finally:
        await admin.close()
    retention = {}
    for response in configs:
        for resource in response.resources:
            values = {entry[0]: entry[1] for entry in resource[4]}
            retention[resource[3]] = values["retention.ms"]
    assert retention == {"kim.cases": "-1", f"kim.partner.{PARTNERS[0]}": rehearsal.env["KIM_PARTNER_TOPIC_RETENTION_MS"]}
