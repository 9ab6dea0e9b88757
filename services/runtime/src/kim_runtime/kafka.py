"""Kafka clients with the settings every service uses: faststream brokers tuned for latency and safety."""

from __future__ import annotations

import logging

from faststream.kafka import KafkaBroker

from .settings import RuntimeSettings


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
        settings.kafka_bootstrap,
        enable_idempotence=True,
        acks="all",
        linger_ms=0,
        request_timeout_ms=10_000,
        security=security,
        client_id=f"kim-{settings.service}",
        log_level=logging.DEBUG,  # one line per message is noise at INFO; failures still log as errors
        **extra,
    )
