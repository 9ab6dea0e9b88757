"""schemas/PARTNERS.md: the guide a partner agency's developer works from, generated from the contract (the partner
event models, the headers, the contract version) and the configuration (the registered partners, and the naming of
topics, consumer groups and Kafka users in kim_runtime.topics). Nothing in it is typed by hand: `kim schemas check`
fails when it differs from what `kim schemas generate` writes.

The Python blocks marked `# partner-snippet: <name>` are executed by the reference consumer's test
(tests/integration/referrals/test_reference_partner_consumer.py), so they keep working.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence

from kim_runtime.topics import (
    PARTNER_CLEANUP_POLICY,
    PARTNER_RETENTION_MS,
    partner_group_prefix,
    partner_kafka_user,
    partner_topic,
)

from kim_schemas.base import EventRegistry
from kim_schemas.codes import PERSON_FIELDS, EndedReason, RevocationReason
from kim_schemas.contract import CONTRACT_VERSION
from kim_schemas.headers import CLOUDEVENTS_HEADERS
from kim_schemas.partner import LEGACY_STATES, PartnerState

PARTNERS_FILE = "PARTNERS.md"

STATE_MEANING = {
    PartnerState.REQUESTED: "offered to you; accept or decline",
    PartnerState.ACCEPTED: "you accepted it",
    PartnerState.DECLINED: "you declined it (decline_reason says why)",
    PartnerState.APPOINTMENT_SCHEDULED: "you scheduled the client's appointment (appointment_on)",
    PartnerState.OUTCOME_REPORTED: "you reported an outcome (outcome)",
    PartnerState.CLOSED: "the Kreis closed it; nothing more happens",
}

SNIPPET_CONSUME = '''
# partner-snippet: consume
import base64
import json
import os
import ssl

import httpx
from aiokafka import AIOKafkaConsumer
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def security() -> dict:
    """Your sheet's Kafka login: SASL_SSL with SCRAM-SHA-512, the Kreis's CA certificate (none: a local test broker)."""
    protocol = os.environ.get("KIM_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT")
    if protocol == "PLAINTEXT":
        return {}
    options = {"security_protocol": protocol, "sasl_mechanism": os.environ["KIM_KAFKA_SASL_MECHANISM"],
               "sasl_plain_username": os.environ["KIM_KAFKA_USER"],
               "sasl_plain_password": os.environ["KIM_KAFKA_PASSWORD"]}
    if protocol == "SASL_SSL":
        options["ssl_context"] = ssl.create_default_context(cafile=os.environ["KIM_KAFKA_CA_FILE"])
    return options


async def open_sealed(api: httpx.AsyncClient, keys: dict[str, bytes], value: bytes) -> dict | None:
    """The snapshot inside a sealed one, with its referral's key (fetched once, kept in `keys`); None once the
    referral is revoked (410: the key is destroyed, nobody can open it any more)."""
    record = json.loads(value)
    referral_id, version, sealed = record["referral_id"], record["version"], record["sealed"]
    if referral_id not in keys:
        answer = await api.get(f"/partner/referrals/{referral_id}/key")
        if answer.status_code == 410:
            return None
        keys[referral_id] = base64.b64decode(answer.raise_for_status().json()["key"])
    plain = AESGCM(keys[referral_id]).decrypt(base64.b64decode(sealed["nonce"]), base64.b64decode(sealed["ciphertext"]),
                                              f"{referral_id}:{version}".encode())
    return json.loads(plain)


async def read_my_topic(view: dict[str, dict], keys: dict[str, bytes]) -> None:
    """Read your topic up to its end and keep the current state of each referral in `view` (key -> snapshot) and
    its key in `keys` (key -> AES key)."""
    consumer = AIOKafkaConsumer(
        os.environ["KIM_PARTNER_TOPIC"], bootstrap_servers=os.environ["KIM_KAFKA_BOOTSTRAP"],
        group_id=os.environ["KIM_PARTNER_GROUP"], auto_offset_reset="earliest", enable_auto_commit=False,
        **security())
    await consumer.start()
    try:
        async with httpx.AsyncClient(base_url=os.environ["KIM_PARTNER_API"],
                                     headers={"Authorization": f"Bearer {os.environ['KIM_PARTNER_TOKEN']}"}) as api:
            while batch := await consumer.getmany(timeout_ms=3000):
                for records in batch.values():
                    for record in records:
                        key = record.key.decode()
                        headers = {k: v.decode() for k, v in record.headers}
                        if record.value is None or headers["ce_type"] == "kim.partner.PartnerReferralRevoked":
                            view.pop(key, None)  # revoked: delete everything you hold for this referral,
                            keys.pop(key, None)  # its key included
                        elif headers["ce_type"] == "kim.partner.PartnerReferralSealedSnapshot":
                            if (snapshot := await open_sealed(api, keys, record.value)) is not None:
                                view[key] = snapshot  # a full snapshot replaces what you had
                        elif headers["ce_type"] == "kim.partner.PartnerReferralSnapshot":  # contract 3.x, in clear
                            view[key] = json.loads(record.value)
                await consumer.commit()
    finally:
        await consumer.stop()
'''.strip()

SNIPPET_WORK = '''
# partner-snippet: work
import os

import httpx


async def work(referral_id: str, appointment_on: str, outcome: str) -> tuple[dict, dict]:
    """Accept a referral, schedule the appointment, read the consented personal data once, report the outcome."""
    token = os.environ["KIM_PARTNER_TOKEN"]
    async with httpx.AsyncClient(base_url=os.environ["KIM_PARTNER_API"],
                                 headers={"Authorization": f"Bearer {token}"}) as api:
        seen = await api.get(f"/partner/referrals/{referral_id}")
        seen.raise_for_status()
        accepted = await api.post(f"/partner/referrals/{referral_id}/accept", headers={"If-Match": seen.headers["ETag"]})
        accepted.raise_for_status()
        person = (await api.get(f"/partner/referrals/{referral_id}/person")).raise_for_status().json()
        scheduled = await api.post(f"/partner/referrals/{referral_id}/appointment",
                                   headers={"If-Match": accepted.headers["ETag"]}, json={"appointment_on": appointment_on})
        scheduled.raise_for_status()
        reported = await api.post(f"/partner/referrals/{referral_id}/outcome",
                                  headers={"If-Match": scheduled.headers["ETag"]}, json={"outcome": outcome})
        return reported.raise_for_status().json(), person
'''.strip()

SNIPPET_SCHEMA = '''
# partner-snippet: validate
import json
import os

import httpx
from jsonschema import Draft202012Validator


async def validate(headers: dict[str, str], value: bytes | None) -> list[str]:
    """Problems of one record against the schema its ce_dataschema names (fetched with your token); [] if valid."""
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {os.environ['KIM_PARTNER_TOKEN']}"}) as http:
        schema = (await http.get(headers["ce_dataschema"])).raise_for_status().json()
    data = json.loads(value) if value is not None else None
    return [e.message for e in Draft202012Validator(schema).iter_errors(data)]
'''.strip()

SNIPPETS = {"consume": SNIPPET_CONSUME, "work": SNIPPET_WORK, "validate": SNIPPET_SCHEMA}


def render_partner_guide(registry: EventRegistry, partners: Sequence[tuple[str, str]]) -> str:
    partner_types = sorted((t, v) for (t, v) in registry.types if t.startswith("kim.partner."))
    example = partners[0][0] if partners else "<organisation id>"
    days = PARTNER_RETENTION_MS // (24 * 3600 * 1000)
    lines = [
        "# KIM Hub for partner agencies",
        "",
        f"Contract version **{CONTRACT_VERSION}** (AsyncAPI `info.version`; what changed: `CHANGELOG.md`). "
        "Generated by `kim schemas generate` from the event contract and the partner registry; do not edit.",
        "",
        "You receive, for each referral the Kreis sends you, the current state of the referral on your own Kafka "
        "topic, and you work the referral through the partner API with your partner token. Pseudonyms and codes "
        "only travel on the topic, sealed under a key of the referral's own that the partner API gives you and a "
        "revocation destroys; the personal data the client's consent shares with you is read on request "
        "(`GET /partner/referrals/{id}/person`).",
        "",
        "## Getting access: your onboarding sheet",
        "",
        "The Kreis brings you live with `kim partner onboard <organisation id>` and hands you its onboarding sheet: "
        "the Kafka bootstrap address of the partners' listener, the security protocol (`SASL_SSL`) and SASL "
        "mechanism (`SCRAM-SHA-512`), your Kafka user and password, your topic, your consumer group prefix, the CA "
        "certificate the broker's certificate is signed with, the partner API's base URL, your API token and when it "
        "expires, and where the schemas are. The password and the token are on the sheet only: keep it secret. "
        "Your Kafka user may read your topic and use consumer groups with your prefix, nothing else.",
        "",
        "New secrets (a token about to expire, a person leaving, a suspected leak): ask the Kreis, which runs "
        "`kim partner rotate <organisation id>` and hands you a new sheet. From that moment the old password and "
        "the old token are refused; your topic, your groups and their offsets stay.",
        "",
        "## Your ids",
        "",
        "Your organisation id is the one the Kreis registered you under. The registered partners, with the topic you "
        "read, the prefix your consumer group ids must start with (the Kafka ACLs allow exactly these) and your "
        "Kafka user:",
        "",
        "| organisation id | name | topic | consumer groups | Kafka user |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += [f"| `{org}` | {name} | `{partner_topic(org)}` | `{partner_group_prefix(org)}*` | "
              f"`{partner_kafka_user(org)}` |" for org, name in partners]
    lines += [
        "",
        f"For example `{example}` reads `{partner_topic(example)}` with a group such as "
        f"`{partner_group_prefix(example)}reader`.",
        "",
        "## Your topic: the current state",
        "",
        f"Your topic is compacted (`cleanup.policy={PARTNER_CLEANUP_POLICY}`): Kafka keeps the newest record of each "
        f"key, and deletes records older than {days} days besides. The key is your id of the referral.",
        "",
        "- Every change of a referral is a **full snapshot**, sealed: `kim.partner.PartnerReferralSealedSnapshot` "
        "shows only `referral_id` (= the key) and `version`; its `sealed` opens to a "
        "`kim.partner.PartnerReferralSnapshot` v2 with every field as it is now (null means none, never "
        "\"unchanged\"). Keep the newest per key.",
        "- Versions count **1, 2, 3, ... per referral**: `version` in the snapshot = header `ce_streamversion` = the "
        "ETag of the referral in the partner API.",
        "- A revocation publishes `kim.partner.PartnerReferralRevoked` (`purge: true`, `reason`): **delete "
        "everything you hold for the referral**, its key included. Then a tombstone follows: key, headers "
        "(`ce_type` `kim.partner.PartnerReferralTombstone`), value null. Both are in clear: they carry no personal "
        "data. Compaction removes every earlier record of that key within about a day (`max.compaction.lag.ms`); "
        "until then a new group reading from offset 0 still receives the sealed snapshots, but nobody can open "
        "them: the revocation destroyed the key (see below). The tombstone itself stays "
        f"{days} days (`delete.retention.ms`), as long as you may go without reading. The partner API answers the "
        "referral and its key with **410 Gone** and the same `reason` (a problem detail), and no longer lists it.",
        "- Times (`offered_at`, `changed_at`, `revoked_at`, `ce_time`) are whole seconds, UTC.",
        "",
        "What you receive for one referral, offer to tombstone (the same key throughout):",
        "",
        "| # | `ce_type` | `ce_streamversion` | value |",
        "| --- | --- | --- | --- |",
        "| 1 | `kim.partner.PartnerReferralSealedSnapshot` | 1 | sealed: state `requested`, the offer with the facts "
        "you may see |",
        "| 2 | `kim.partner.PartnerReferralSealedSnapshot` | 2 | sealed: state `accepted` (after your accept) |",
        "| 3 | `kim.partner.PartnerReferralSealedSnapshot` | 3 | sealed: state `appointment_scheduled`, "
        "`appointment_on` set |",
        "| 4 | `kim.partner.PartnerReferralSealedSnapshot` | 4 | sealed: state `outcome_reported`, `outcome` set, "
        "`appointment_on` still there |",
        "| 5 | `kim.partner.PartnerReferralRevoked` | 5 | `reason`, `purge: true`, `revoked_at` |",
        "| 6 | `kim.partner.PartnerReferralTombstone` | 6 | null |",
        "",
        "## Sealed snapshots: one key per referral",
        "",
        "A sealed snapshot's `sealed` is AES-256-GCM: `nonce` (12 bytes) and `ciphertext` (the ciphertext with the "
        "16-byte tag appended), both base64, and `key_id`. The associated data is `<referral_id>:<version>` (UTF-8), "
        "so a record opens only as the snapshot of its own key and version. The plaintext is the JSON of a "
        "`kim.partner.PartnerReferralSnapshot` v2: validate it against that schema (`GET /partner/schemas/"
        "kim.partner.PartnerReferralSnapshot/2`).",
        "",
        "- Fetch the referral's key once, when you first see the referral: `GET /partner/referrals/{id}/key` answers "
        "`key` (32 bytes, base64), `key_id` (the same as in `sealed`), `algorithm` and `associated_data`. Keep the "
        "key with the referral. One key serves every version of that referral; another referral has another key.",
        "- On the revocation notice delete the key with everything else. The Kreis destroyed it in the transaction "
        "that recorded the revocation: from then on `GET /partner/referrals/{id}/key` answers **410 Gone**, and "
        "the referral's sealed snapshots still on the topic open for nobody: not for you after your purge, not for "
        "a new consumer group reading from offset 0, not for the Kreis. A consumer that meets a sealed snapshot "
        "whose key answers 410 skips it: the revocation notice follows on the same key.",
        "- Records carry no `ce_subject`: your pseudonym of the client (`client_pseudonym`) is inside the sealed "
        "snapshot only.",
        "- `kim.partner.PartnerReferralSnapshot` v2 records of contract 3.x (in clear) may still be on your topic "
        "for referrals that have not changed since; they go with the next change's compaction, the tombstone, or "
        "the retention.",
        "",
        "A referral that ends without revocation ends with a snapshot in state `closed` (or `declined`). Any "
        f"record older than {days} days leaves the topic, even the newest of an open referral that has not changed "
        "since: read your topic at least that often; the partner API still answers every referral that is not "
        "revoked.",
        "",
        "## States (the same words on the topic and in the API)",
        "",
        "| state | meaning |",
        "| --- | --- |",
    ]
    lines += [f"| `{s.value}` | {STATE_MEANING[s]} |" for s in PartnerState]
    lines += [
        "| (revoked) | no state: revocation notice and tombstone on the topic, 410 Gone in the API |",
        "",
        "Records of contract 1.x (`PartnerReferralOffered` / `PartnerReferralUpdated` v1, no longer published) "
        "used other words: " + ", ".join(f"`{old.value}` = `{new.value}`" for old, new in LEGACY_STATES.items())
        + ".",
        "",
        "## Headers",
        "",
        "CloudEvents 1.0, Kafka binding, binary mode: the value is the data as JSON, the attributes are headers. "
        "A partner topic carries exactly these (no library headers):",
        "",
        "| header | meaning |",
        "| --- | --- |",
    ]
    partner_headers = [h for h in CLOUDEVENTS_HEADERS
                       if h not in ("ce_traceparent", "ce_keyid", "ce_municipality", "ce_subject")]
    lines += [f"| `{h}` | {CLOUDEVENTS_HEADERS[h]} |" for h in partner_headers]
    lines += [
        "",
        "## Validate strictly",
        "",
        "Validate each record against the JSON Schema its `ce_dataschema` names (or `json/<ce_type>/"
        "v<ce_schemaversion>.json` here). The schemas are **strict**: `additionalProperties: false`, closed code "
        "lists. The contract keeps them so: any change of a partner event other than its descriptions — a new "
        "field, even optional, a new code — comes as a new version of the event (`ce_schemaversion` N+1), "
        "announced in `CHANGELOG.md` with a new major contract version, and `kim schemas check` refuses anything "
        "else. A record you cannot read: report it (`POST /partner/feedback`) and go on.",
        "",
        "Schemas are served by the partner API with your token: `GET /partner/schemas/<type>/<version>` (the "
        "`ce_dataschema` URL), and `GET /partner/schemas` lists every partner event type and version of the "
        "current contract.",
        "",
        "| type | version | what |",
        "| --- | --- | --- |",
    ]
    for t, v in partner_types:
        model = registry.types[(t, v)]
        summary = inspect.cleandoc(model.__doc__ or "").replace("\n", " ").split(". ")[0].rstrip(".")
        lines.append(f"| `{t}` | {v} | {summary} |")
    lines += [
        "",
        "## The partner API (with your partner token)",
        "",
        "| call | what |",
        "| --- | --- |",
        "| `GET /partner/referrals` | the current snapshot of each of your referrals (revoked ones are gone) |",
        "| `GET /partner/referrals/{id}` | one snapshot (opened), the same as the newest record of its key; "
        "ETag = version; 410 once revoked |",
        "| `GET /partner/referrals/{id}/key` | the key that opens the referral's sealed snapshots: `referral_id`, "
        "`key_id`, `algorithm` (`AES-256-GCM`), `key` (base64), `associated_data` (`<referral_id>:{version}`); "
        "410 once revoked (the key is destroyed); another partner's referral answers 404 |",
        "| `POST /partner/referrals/{id}/accept`, `/decline`, `/appointment`, `/outcome` | work the referral "
        "(`If-Match: <ETag>`; 409 when it moved on, 410 once revoked) |",
        "| `GET /partner/referrals/{id}/person` | the client's personal data the consent shares with you: "
        + "; ".join(f"`{c.value}` → " + ", ".join(f"`{f}`" for f in fields) for c, fields in PERSON_FIELDS.items())
        + "; nothing else. Decrypted on request and recorded in the client's access log with your organisation as "
        "reader; 410 with the reason ("
        + ", ".join(f"`{r.value}`" for r in (*RevocationReason, *EndedReason) if r is not RevocationReason.OTHER)
        + ") once it is no longer shared. Read it when you need it; do not keep it longer than the referral |",
        "| `GET /partner/schemas`, `GET /partner/schemas/{type}/{version}` | the contract's JSON Schemas |",
        "| `POST /partner/feedback` | a record you could not read: `topic`, `partition`, `offset`, `key`, "
        "`ce_id`, `ce_type`, `ce_schemaversion` (as far as you have them), `problem` (`not-json`, `unknown-type`, "
        "`unknown-version`, `invalid-data`, `other`) and a `detail` without personal data; the Kreis's operators "
        "see it (your `detail` is kept by the referrals service only, never published, and deleted when the "
        "referral your `key` names is revoked, at the latest after 30 days) |",
        "",
        "## Code",
        "",
        "Environment: `KIM_KAFKA_BOOTSTRAP`, `KIM_KAFKA_SECURITY_PROTOCOL`, `KIM_KAFKA_SASL_MECHANISM`, "
        "`KIM_KAFKA_USER`, `KIM_KAFKA_PASSWORD`, `KIM_KAFKA_CA_FILE`, `KIM_PARTNER_TOPIC`, `KIM_PARTNER_GROUP`, "
        "`KIM_PARTNER_API`, `KIM_PARTNER_TOKEN`: your onboarding sheet lists them with their values. A complete "
        "consumer that validates, opens the sealed snapshots, keeps a local view and purges (keys included) is "
        "`examples/partner_consumer/`. Dependencies of the code below: `aiokafka`, `httpx`, `cryptography`, "
        "`jsonschema`.",
        "",
    ]
    for name in ("consume", "work", "validate"):
        lines += ["```python", SNIPPETS[name], "```", ""]
    return "\n".join(lines).rstrip() + "\n"
