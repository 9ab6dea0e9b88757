"""A reference consumer for a KIM Hub partner agency: reads its topic, validates every record against the schema its
`ce_dataschema` names, opens each sealed snapshot with its referral's key (fetched once from the partner API and kept
with the referral), keeps a local view of its referrals in SQLite, and purges on revocation and tombstone, the key
included.

Only what schemas/PARTNERS.md documents is used: the topic, the consumer group prefix, the partner API and its token.

    KIM_KAFKA_BOOTSTRAP=... KIM_PARTNER_TOPIC=kim.partner.<org> KIM_PARTNER_GROUP=partner.<org>.reader \\
    KIM_PARTNER_API=https://... KIM_PARTNER_TOKEN=... python partner_consumer.py --db view.sqlite

With the Kreis's broker also KIM_KAFKA_SECURITY_PROTOCOL (SASL_SSL), KIM_KAFKA_SASL_MECHANISM (SCRAM-SHA-512),
KIM_KAFKA_USER, KIM_KAFKA_PASSWORD and KIM_KAFKA_CA_FILE: all of them are on the onboarding sheet.

Dependencies: aiokafka, httpx, jsonschema, cryptography. Delivery is at least once: a record whose ce_id was handled is skipped;
a snapshot older than the one held (version) is ignored. A record that cannot be read is reported to the Kreis
(POST /partner/feedback) and skipped, never guessed at. A sealed snapshot whose key the API no longer gives (410: the
referral was revoked, its notice follows on the topic) is skipped: nobody can open it any more.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import sqlite3
import ssl
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
from aiokafka import AIOKafkaConsumer
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from jsonschema import Draft202012Validator

SEALED = "kim.partner.PartnerReferralSealedSnapshot"
SNAPSHOT = "kim.partner.PartnerReferralSnapshot"  # what a sealed snapshot holds; v2 records of contract 3.x in clear
SNAPSHOT_SCHEMA = "/partner/schemas/kim.partner.PartnerReferralSnapshot/2"
REVOKED = "kim.partner.PartnerReferralRevoked"
TOMBSTONE = "kim.partner.PartnerReferralTombstone"


class LocalView:
    """The agency's own store: the newest snapshot per referral; a purge deletes it and keeps only the fact."""

    def __init__(self, path: str):
        self.db = sqlite3.connect(path)
        self.db.executescript("""
            CREATE TABLE IF NOT EXISTS referrals (referral_id TEXT PRIMARY KEY, version INTEGER, state TEXT,
                                                  snapshot TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS handled (ce_id TEXT PRIMARY KEY);
            CREATE TABLE IF NOT EXISTS referral_keys (referral_id TEXT PRIMARY KEY, key_id TEXT, key TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS purges (referral_id TEXT, reason TEXT, purged_at TEXT);
        """)

    def seen(self, ce_id: str | None) -> bool:
        return ce_id is not None and self.db.execute("SELECT 1 FROM handled WHERE ce_id = ?", (ce_id,)).fetchone()

    def handled(self, ce_id: str | None) -> None:
        if ce_id is not None:
            self.db.execute("INSERT OR IGNORE INTO handled VALUES (?)", (ce_id,))

    def keep(self, snapshot: dict) -> bool:
        row = self.db.execute("SELECT version FROM referrals WHERE referral_id = ?",
                              (snapshot["referral_id"],)).fetchone()
        if row is not None and row[0] >= snapshot["version"]:
            return False  # a repeat or an older snapshot
        self.db.execute("INSERT OR REPLACE INTO referrals VALUES (?, ?, ?, ?)", (
            snapshot["referral_id"], snapshot["version"], snapshot["state"], json.dumps(snapshot, sort_keys=True)))
        return True

    def key(self, referral_id: str) -> tuple[str, bytes] | None:
        row = self.db.execute("SELECT key_id, key FROM referral_keys WHERE referral_id = ?", (referral_id,)).fetchone()
        return (row[0], base64.b64decode(row[1])) if row else None

    def keep_key(self, referral_id: str, key_id: str, key: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO referral_keys VALUES (?, ?, ?)", (referral_id, key_id, key))

    def keys(self) -> set[str]:
        return {r for (r,) in self.db.execute("SELECT referral_id FROM referral_keys")}

    def purge(self, referral_id: str, reason: str) -> None:
        self.db.execute("DELETE FROM referrals WHERE referral_id = ?", (referral_id,))
        self.db.execute("DELETE FROM referral_keys WHERE referral_id = ?", (referral_id,))  # the key goes too
        self.db.execute("INSERT INTO purges VALUES (?, ?, ?)", (referral_id, reason, datetime.now(UTC).isoformat()))

    def referrals(self) -> dict[str, dict]:
        return {r: json.loads(s) for r, s in self.db.execute("SELECT referral_id, snapshot FROM referrals")}

    def purged(self) -> list[tuple[str, str]]:
        return [(r, why) for r, why in self.db.execute("SELECT referral_id, reason FROM purges ORDER BY rowid")]

    def commit(self) -> None:
        self.db.commit()

    def close(self) -> None:
        self.db.close()


@dataclass
class Stats:
    records: int = 0
    snapshots: int = 0
    purges: int = 0
    tombstones: int = 0
    reported: int = 0
    repeats: int = 0
    sealed_for_good: int = 0  # sealed snapshots of revoked referrals: their key is destroyed, nobody can open them
    keys_with_data: set[str] = field(default_factory=set)  # keys whose snapshot data this consumer ever received


class PartnerConsumer:
    def __init__(self, *, bootstrap: str, topic: str, group: str, api: str, token: str, view: LocalView,
                 kafka_options: dict | None = None):
        self.bootstrap, self.topic, self.group, self.view = bootstrap, topic, group, view
        self.kafka_options = kafka_options or {}
        self.api = httpx.AsyncClient(base_url=api, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        self.schemas: dict[str, Draft202012Validator] = {}
        self.stats = Stats()

    async def close(self) -> None:
        await self.api.aclose()

    async def run_until_idle(self, idle_ms: int = 3000) -> Stats:
        """Consume from the group's position (the beginning for a new group) until nothing arrives for idle_ms."""
        consumer = AIOKafkaConsumer(self.topic, bootstrap_servers=self.bootstrap, group_id=self.group,
                                    auto_offset_reset="earliest", enable_auto_commit=False, **self.kafka_options)
        await consumer.start()
        try:
            while batch := await consumer.getmany(timeout_ms=idle_ms):
                for records in batch.values():
                    for record in records:
                        await self.handle(record)
                self.view.commit()  # the view first, then the offsets: a crash in between repeats, never loses
                await consumer.commit()
        finally:
            await consumer.stop()
        return self.stats

    async def handle(self, record) -> None:
        self.stats.records += 1
        key = record.key.decode() if record.key else None
        headers = {k: v.decode(errors="replace") for k, v in record.headers or ()}
        if self.view.seen(headers.get("ce_id")):
            self.stats.repeats += 1
            return
        if record.value is None and key is not None:  # a tombstone: the referral is gone
            self.view.purge(key, "tombstone")
            self.stats.tombstones += 1
            self.view.handled(headers.get("ce_id"))
            return
        problem = await self.invalid(headers, record.value)
        if problem is not None:
            await self.report(record, headers, *problem)
            return
        data = json.loads(record.value)
        if headers["ce_type"] == SEALED:
            opened = await self.open(data)
            if isinstance(opened, tuple):
                await self.report(record, headers, *opened)
                return
            if opened is not None:
                self.stats.keys_with_data.add(key)
                self.stats.snapshots += self.view.keep(opened)
        elif headers["ce_type"] == SNAPSHOT:  # a contract 3.x record, in clear
            self.stats.keys_with_data.add(key)
            self.stats.snapshots += self.view.keep(data)
        elif headers["ce_type"] == REVOKED:
            self.view.purge(data["referral_id"], data["reason"])  # delete everything held for it
            self.stats.purges += 1
        self.view.handled(headers.get("ce_id"))

    async def open(self, sealed: dict) -> dict | tuple[str, str] | None:
        """The snapshot inside a sealed one, opened with its referral's key (fetched once, then kept with the
        referral); None when the key is gone (revoked); (problem, detail) when it does not open or validate."""
        referral_id, version = sealed["referral_id"], sealed["version"]
        held = self.view.key(referral_id)
        if held is None or held[0] != sealed["sealed"]["key_id"]:
            r = await self.api.get(f"/partner/referrals/{referral_id}/key")
            if r.status_code == 410:  # revoked: the key is destroyed, the revocation notice follows on the topic
                self.stats.sealed_for_good += 1
                return None
            r.raise_for_status()
            self.view.keep_key(referral_id, r.json()["key_id"], r.json()["key"])
            held = self.view.key(referral_id)
        try:
            plain = AESGCM(held[1]).decrypt(base64.b64decode(sealed["sealed"]["nonce"]),
                                            base64.b64decode(sealed["sealed"]["ciphertext"]),
                                            f"{referral_id}:{version}".encode())
        except InvalidTag:
            return "invalid-data", f"the sealed snapshot v{version} does not open with the referral's key"
        snapshot = json.loads(plain)
        if SNAPSHOT_SCHEMA not in self.schemas:
            r = await self.api.get(SNAPSHOT_SCHEMA)
            r.raise_for_status()
            self.schemas[SNAPSHOT_SCHEMA] = Draft202012Validator(
                r.json(), format_checker=Draft202012Validator.FORMAT_CHECKER)
        errors = [e.message for e in self.schemas[SNAPSHOT_SCHEMA].iter_errors(snapshot)]
        if errors or (snapshot["referral_id"], snapshot["version"]) != (referral_id, version):
            return "invalid-data", ("; ".join(errors) or "the sealed snapshot names another referral or version")[:480]
        return snapshot

    async def invalid(self, headers: dict[str, str], value: bytes | None) -> tuple[str, str] | None:
        """(problem, detail) when the record cannot be read as the contract says; None when it is valid."""
        if headers.get("ce_type") not in (SEALED, SNAPSHOT, REVOKED, TOMBSTONE):
            return "unknown-type", f"ce_type {headers.get('ce_type')!r}"
        url = headers.get("ce_dataschema")
        if not url:
            return "other", "no ce_dataschema header"
        try:
            data = json.loads(value) if value is not None else None
        except ValueError:
            return "not-json", "the value is not JSON"
        if url not in self.schemas:
            r = await self.api.get(url)
            if r.status_code == 404:
                return "unknown-version", f"no schema at {url}"
            r.raise_for_status()
            self.schemas[url] = Draft202012Validator(r.json(), format_checker=Draft202012Validator.FORMAT_CHECKER)
        errors = [e.message for e in self.schemas[url].iter_errors(data)]
        return ("invalid-data", "; ".join(errors)[:480]) if errors else None

    async def report(self, record, headers: dict[str, str], problem: str, detail: str) -> None:
        r = await self.api.post("/partner/feedback", json={
            "topic": record.topic, "partition": record.partition, "offset": record.offset,
            "key": record.key.decode(errors="replace")[:100] if record.key else None,
            "ce_id": headers.get("ce_id"), "ce_type": headers.get("ce_type"),
            "ce_schemaversion": headers.get("ce_schemaversion"), "problem": problem, "detail": detail})
        r.raise_for_status()
        self.stats.reported += 1


def kafka_options(env: dict[str, str]) -> dict:
    """aiokafka's security options from the onboarding sheet's environment (none: a broker without SASL)."""
    protocol = env.get("KIM_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT")
    if protocol == "PLAINTEXT":
        return {}
    options = {"security_protocol": protocol, "sasl_mechanism": env.get("KIM_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512"),
               "sasl_plain_username": env["KIM_KAFKA_USER"], "sasl_plain_password": env["KIM_KAFKA_PASSWORD"]}
    if protocol == "SASL_SSL":  # the broker's certificate is checked against the Kreis's CA, host name included
        options["ssl_context"] = ssl.create_default_context(cafile=env.get("KIM_KAFKA_CA_FILE"))
    return options


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="partner-view.sqlite", help="the local view (SQLite file)")
    args = parser.parse_args()
    view = LocalView(args.db)
    consumer = PartnerConsumer(bootstrap=os.environ["KIM_KAFKA_BOOTSTRAP"], topic=os.environ["KIM_PARTNER_TOPIC"],
                               group=os.environ["KIM_PARTNER_GROUP"], api=os.environ["KIM_PARTNER_API"],
                               token=os.environ["KIM_PARTNER_TOKEN"], view=view,
                               kafka_options=kafka_options(dict(os.environ)))
    try:
        stats = await consumer.run_until_idle()
    finally:
        await consumer.close()
        view.close()
    print(json.dumps({k: v for k, v in vars(stats).items() if k != "keys_with_data"}))


if __name__ == "__main__":
    asyncio.run(main())
