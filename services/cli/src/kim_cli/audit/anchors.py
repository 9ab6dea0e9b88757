"""The audit side of signed anchors (kim_runtime.anchor): whose keys to trust, where the anchors are read from, and
an anchor written on demand.

Trusted public keys: --public-key, else KIM_AUDIT_PUBLIC_KEYS (comma-separated base64), else the public half of the
signing key this shell is configured with (KIM_AUDIT_SIGNING_KEY / _FILE, the local stack's secrets.json, or with
KIM_ENV=dev the dev-only key). An auditor outside the county's operations is given only the public key.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from kim_runtime.anchor import (AnchorKeyError, Anchorer, AnchorFinding, AnyRecord, Signer, check_log,
                                STORE_ID, compare_store, parse_record, parse_public_keys, read_file)
from kim_runtime.service import signer_of
from kim_runtime.settings import RuntimeSettings

from kim_cli.audit.connect import UserError
from kim_cli.audit.kafka_io import read_topic
from kim_cli.master_key import local_stack_secret

SECRET_NAME = "audit_signing_key"  # its name in the local stack's secrets.json


def signer() -> Signer:
    """The signing key of this shell's settings, else the local stack's (what `kim run` gave its services)."""
    settings = RuntimeSettings()
    if settings.audit_signing_key is None and settings.audit_signing_key_file is None:
        local = local_stack_secret(SECRET_NAME)
        if local is not None:
            return Signer.from_text(local[1], local[0])
    try:
        return signer_of(settings)
    except AnchorKeyError as exc:
        raise UserError(str(exc)) from None


def trusted_keys(given: list[str] | None) -> dict[str, Ed25519PublicKey]:
    try:
        if given:
            return parse_public_keys(",".join(given), "--public-key")
        if os.environ.get("KIM_AUDIT_PUBLIC_KEYS"):
            return parse_public_keys(os.environ["KIM_AUDIT_PUBLIC_KEYS"], "KIM_AUDIT_PUBLIC_KEYS")
    except AnchorKeyError as exc:
        raise UserError(str(exc)) from None
    own = signer()
    return {own.key_id: own.public}


async def read_anchors(bootstrap: str | None, topic: str, file: Path | None) -> list[AnyRecord]:
    """Every anchor record, from the file when one is given, else from the topic (none without Kafka)."""
    if file is not None:
        try:
            return read_file(file)
        except OSError as exc:
            raise UserError(f"--anchors {file}: cannot read it ({exc.strerror})") from None
        except ValueError as exc:
            raise UserError(f"--anchors {file}: not an anchor file ({exc.__class__.__name__})") from None
    if bootstrap is None:
        return []
    out: list[AnyRecord] = []
    async for records in read_topic(bootstrap, topic):
        for record in records:
            try:
                out.append(parse_record(record.value or b""))
            except ValueError:
                continue  # not an anchor: it can vouch for nothing (a forged one would need the key anyway)
    return out


async def check_service(pool, service: str, records: list[AnyRecord], trusted: dict[str, Ed25519PublicKey],
                        say: Callable[[str], None]) -> list[AnchorFinding]:
    """Say what the service's anchors vouch for and return every finding (anchors among themselves, then the store
    against the latest valid one)."""
    async with pool.acquire() as conn:
        store = str(await conn.fetchval(STORE_ID)) if await conn.fetchval(
            "SELECT to_regclass('audit_store') IS NOT NULL") else "-"
    log = check_log(service, store, records, trusted)
    findings = log.findings + await compare_store(pool, log)
    if log.latest is None:
        say(f"{service}: no valid anchor of this store (id {store}) yet: nothing outside the database vouches "
            "for it")
    else:
        a = log.latest
        say(f"{service}: {log.anchors} anchor(s); the latest, #{a.seq} of {a.created_at:%Y-%m-%d %H:%M:%S %Z} "
            f"(key {a.key_id}), seals {a.events:,} events in {a.streams:,} streams")
    for finding in findings:
        say(f"  {finding.line()}")
    return findings


async def anchor_now(service: str, pool, bootstrap: str, topic: str, file: Path | None) -> str:
    """Write an anchor of the service's store now (forced, even when nothing changed)."""
    from aiokafka import AIOKafkaProducer

    from kim_cli.audit.connect import kafka_options  # noqa: PLC0415

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all", **kafka_options())
    await producer.start()
    try:
        async def publish(values):
            for value in values:
                await producer.send_and_wait(topic, value, key=service.encode())

        body = await Anchorer(pool, service, signer(), publish, file).anchor(force=True)
    finally:
        await producer.stop()
    return (f"{service}: anchor #{body.seq} written to {topic}{f' and {file}' if file else ''}: "
            f"{body.events:,} events in {body.streams:,} streams, root {body.root[:16]}…")
