"""Kafka clients with the settings every service uses: faststream brokers tuned for latency and safety.

No client creates a topic by accident: FastStream's subscribers do not declare topics and the brokers of the local
stack and compose refuse auto-creation, so every topic exists with its planned partitions (`ensure_topics`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from faststream.kafka import KafkaBroker

from .settings import RuntimeSettings
from .topics import PARTNER_RETENTION_MS, is_partner_topic, topic_configs

log = logging.getLogger(__name__)

TOPIC_ALREADY_EXISTS = 36  # Kafka error code


def bootstrap_servers(bootstrap: str) -> list[str]:
    """"h1:9092,h2:9092,h3:9092" as a list. FastStream wraps a string into a one-element list, which aiokafka then
    takes as one host (it splits only a string): a comma-separated bootstrap of several brokers must be split here."""
    servers = [s.strip() for s in bootstrap.split(",") if s.strip()]
    if not servers:
        raise ValueError("KIM_KAFKA_BOOTSTRAP is empty: set host:port of one or more brokers, comma-separated")
    return servers


def make_broker(settings: RuntimeSettings, **extra) -> KafkaBroker:
    """A broker whose producer is idempotent (per-partition order survives retries) and does not linger."""
    opts = settings.kafka_options()
    security = None
    if opts.get("sasl_mechanism"):
        from faststream.security import SASLScram512, SASLScram256, SASLPlaintext

        cls = {"SCRAM-SHA-512": SASLScram512, "SCRAM-SHA-256": SASLScram256, "PLAIN": SASLPlaintext}[
            opts["sasl_mechanism"]
        ]
        security = cls(username=opts["sasl_plain_username"], password=opts["sasl_plain_password"])
    return KafkaBroker(
        bootstrap_servers(settings.kafka_bootstrap),
        enable_idempotence=True,
        acks="all",
        linger_ms=0,
        request_timeout_ms=10_000,
        security=security,
        client_id=f"kim-{settings.service}",
        allow_auto_create_topics=False,  # topics are planned (deploy/kafka-init/topics.txt), never made on the fly
        log_level=logging.DEBUG,  # one line per message is noise at INFO; failures still log as errors
        **extra,
    )


async def send_record(broker: KafkaBroker, topic: str, *, key: bytes, value: bytes | None,
                      headers: Mapping[str, str]):
    """Send one record exactly as given, through the broker's own (idempotent) producer: no header added by the
    library (FastStream writes its `correlation_id` on every publish), and a None value stays null (a tombstone;
    FastStream would encode it). Returns the send future (await it for the broker's ack)."""
    producer = broker.config.producer._producer.producer  # the aiokafka producer FastStream started
    return await producer.send(topic, value=value, key=key, headers=[(k, v.encode()) for k, v in headers.items()])


async def ensure_topics(bootstrap: str, topics: Mapping[str, int], *, options: Mapping | None = None,
                        replication_factor: int = 1, timeout_ms: int = 30_000,
                        partner_retention_ms: int = PARTNER_RETENTION_MS) -> list[str]:
    """Create each missing topic of ``{name: partitions}`` with its configuration (`topics.topic_configs`: a
    partner topic keeps records for `partner_retention_ms`, every other topic forever).

    Returns the names it created.

    A topic that exists already keeps its partitions (they only ever grow by hand: deploy/README.md); an existing
    partner topic gets the partner configuration (compaction came later than some partner topics).
    ``options`` are connection options as `RuntimeSettings.kafka_options()` gives them.
    """
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # noqa: PLC0415
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType  # noqa: PLC0415

    if not topics:
        return []
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=timeout_ms, **dict(options or {}))
    await admin.start()
    try:
        wanted = [NewTopic(name, num_partitions=n, replication_factor=replication_factor,
                           topic_configs=topic_configs(name, partner_retention_ms)) for name, n in topics.items()]
        response = await admin.create_topics(wanted, timeout_ms=timeout_ms)
        created, existing = [], []
        for name, code, *message in response.topic_errors:
            if code == 0:
                created.append(name)
            elif code == TOPIC_ALREADY_EXISTS:
                existing.append(name)
            else:
                raise RuntimeError(f"cannot create topic {name}: error {code} {message[0] if message else ''}".strip())
        partner_topics = [n for n in existing if is_partner_topic(n)]
        if partner_topics:
            await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, n,
                                                      configs=topic_configs(n, partner_retention_ms))
                                       for n in partner_topics])
    finally:
        await admin.close()
    if created:
        log.info("created topics %s", ", ".join(sorted(created)))
    return created
