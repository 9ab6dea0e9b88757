"""The referrals service in-process on the real stack, a stand-in for the cases service's events, and a partner's
plain aiokafka consumer."""

from __future__ import annotations

import base64
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from fastapi import FastAPI, HTTPException, Query
from fastapi.encoders import jsonable_encoder
from kim_cases.domain.consent import ConsentState
from kim_cases.domain.consent_gate import Consent, choose_consent
from kim_runtime.auth import Principal, Role, issue_token
from kim_runtime.envelope import Envelope
from kim_schemas import cases
from kim_schemas.base import Event
from kim_schemas.types import Encrypted

from kim_referrals.bootstrap import build_app
from kim_referrals.settings import ReferralSettings
from functools import partial

from tests.polling import eventually as _eventually

SECRET = "referrals-integration-test-secret-0123456789"
AGS = "05978024"
# names a demo client could have: they are encrypted by the cases service and must never reach a partner topic
DEMO_NAMES = ("Amina Haddad", "Oleksandr Kovalenko", "Samir Al-Khatib")


def token(role: Role, **claims) -> dict[str, str]:
    principal = Principal(sub=claims.pop("sub", f"{role.value}-1"), role=role, **claims)
    return {"Authorization": f"Bearer {issue_token(SECRET, principal)}"}


ADMIN = token(Role.ADMIN)
CASE_MANAGER = token(Role.CASE_MANAGER, sub="cm-4711", municipality=AGS)


def partner(org: str) -> dict[str, str]:
    return token(Role.PARTNER, sub=f"{org}-clerk", organisation=org)


def new_org(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def register(client, org: str, kind: str = "jobcenter") -> None:
    r = await client.post("/partners", headers=ADMIN,
                          json={"organisation_id": org, "name": f"Jobcenter {org}", "kind": kind, "public_body": True})
    assert r.status_code == 201, r.text


async def consent_known(client, case_id: str, consent_id: str):
    async def check():
        r = await client.get(f"/cases/{case_id}/consents", headers=CASE_MANAGER)  # 404 until the case is known
        return r.status_code == 200 and [c for c in r.json() if c["consent_id"] == consent_id]
    return await eventually(check)


async def consented_case(client, cases, recipient: str, *, purposes: list[str],
                         categories: list[str]) -> tuple[str, str, str]:
    """A case opened on the cases stand-in with a consent for `recipient`, once the referrals gate knows it:
    (case_id, client_id, consent_id)."""
    case_id, client_id = await cases.open_case()
    consent_id = await cases.grant(case_id, client_id, recipients=[recipient], purposes=purposes,
                                   categories=categories)
    await consent_known(client, case_id, consent_id)
    return case_id, client_id, consent_id


@contextlib.asynccontextmanager
async def referrals_service(dsn: str, bootstrap: str, *, clock=None, cases_transport=None,
                            **overrides) -> AsyncIterator[httpx.AsyncClient]:
    """The referrals service in-process; with `clock` (kim_runtime.scheduler.ManualClock) its deadlines follow it;
    with `cases_transport` it reaches the cases service's internal paths through it (an in-process cases app,
    with_cases.cases_service's `.internal`); without, the CasesStandIn's consent decisions answer. `overrides`:
    other ReferralSettings (e.g. a consumer group prefix of the test's own)."""
    settings = ReferralSettings(database_url=dsn, kafka_bootstrap=bootstrap, auth_secret=SECRET,
                                pseudonym_secret="test-pseudonym-secret", **overrides)
    app = build_app(settings)
    app.state.cases.transport = cases_transport or httpx.ASGITransport(app=STAND_IN_DECISIONS.app)
    if clock is not None:
        app.state.runtime.clock = clock
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://referrals") as client:
            yield client


async def ensure_topics(bootstrap: str, *topics: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, num_partitions=3, replication_factor=1) for t in topics])
    except TopicAlreadyExistsError:
        pass
    finally:
        await admin.close()


class StandInDecisions:
    """The consent decisions the cases service would give on what CasesStandIn emitted: its real gate
    (kim_cases.domain.consent_gate over kim_cases' ConsentState), answered on the cases service's internal path.
    It sees an event when it is emitted, before the referrals service consumes it, as the real cases service does."""

    def __init__(self):
        self.consents: dict[str, dict[str, ConsentState]] = {}
        self.client_of: dict[str, str] = {}
        self.erased: set[str] = set()
        self.app = FastAPI()
        self.app.get("/internal/cases/{case_id}/consent-decision")(self.decide)

    def apply(self, event: Event) -> None:
        match event:
            case cases.CaseOpened():
                self.client_of[event.case_id] = event.client_id
            case cases.ClientErased():
                self.erased.add(event.client_id)
            case cases.ConsentGranted():
                self.consents.setdefault(event.case_id, {})[event.consent_id] = ConsentState.of(event)
            case cases.ConsentWithdrawn() if event.consent_id in self.consents.get(event.case_id, {}):
                self.consents[event.case_id][event.consent_id].withdraw(event)
            case cases.ConsentExpired() if event.consent_id in self.consents.get(event.case_id, {}):
                self.consents[event.case_id][event.consent_id].expire(event)

    async def decide(self, case_id: str, recipient: str, purpose: str, on: date,
                     categories: list[str] = Query(), consent_id: str | None = None) -> dict:
        if case_id not in self.client_of:
            raise HTTPException(404)
        if self.client_of[case_id] in self.erased:
            return {"met": False, "granted": None, "reasons": [f"the client of case {case_id} was erased"]}
        ledger = sorted((Consent.of(c) for c in self.consents.get(case_id, {}).values()),
                        key=lambda c: (c.granted_on, c.consent_id))
        chosen, reasons = choose_consent(ledger, case_id=case_id, recipient=recipient, purpose=purpose,
                                         categories=categories, today=on, consent_id=consent_id)
        return {"met": not reasons, "reasons": reasons,
                "granted": jsonable_encoder(chosen.granted()) if chosen else None}


STAND_IN_DECISIONS = StandInDecisions()


class CasesStandIn:
    """Produces kim.cases events the way the cases service's relay would: CloudEvents headers, key = stream id; and
    answers the referrals service's consent decisions on them (StandInDecisions)."""

    def __init__(self, bootstrap: str):
        self.producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)

    async def __aenter__(self) -> CasesStandIn:
        await self.producer.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.producer.stop()

    async def emit(self, event: Event, *, subject: str | None = None, decided_on: bool = True) -> Envelope:
        """decided_on=False: the consent decisions never see the event (as if every answer had been given just
        before it), so only the referrals service's own handling of it can stop a request."""
        if decided_on:
            STAND_IN_DECISIONS.apply(event)
        env = Envelope(type=event.event_type, schema_version=event.schema_version, source="/kim/cases",
                       stream_id=event.stream_id(), subject=subject, actor="cm-4711", municipality=AGS,
                       data=event.model_dump(mode="json"))
        await self.producer.send_and_wait("kim.cases", env.kafka_value(), key=env.kafka_key(),
                                          headers=[(k, v.encode()) for k, v in env.kafka_headers().items()])
        return env

    async def open_case(self, *, name: str = DEMO_NAMES[0]) -> tuple[str, str]:
        """A registered client with an open case (and a recorded residence status); returns (case_id, client_id)."""
        case_id, client_id = f"case-{uuid.uuid4().hex[:10]}", f"client-{uuid.uuid4().hex[:10]}"
        sealed = Encrypted(key_id=f"key-{client_id}", nonce="AAAAAAAAAAAAAAAA",
                           ciphertext="c2VhbGVk")  # the name is only ever inside a ciphertext
        assert name not in sealed.model_dump_json()
        await self.emit(cases.ClientRegistered(client_id=client_id, personal=sealed),
                        subject=client_id)
        await self.emit(cases.CaseOpened(
            case_id=case_id, client_id=client_id, municipality=AGS, baustein="2", team="kreis",
            team_organisation_id="kreis-unna", case_manager_id="cm-4711", access_channel="selbstmeldung",
            opened_on=date(2025, 2, 1)), subject=client_id)
        await self.emit(cases.ResidenceStatusRecorded(
            case_id=case_id, status="duldung_60a", perspective="gelb", recorded_on=date(2025, 2, 1)),
            subject=client_id)
        return case_id, client_id

    async def grant(self, case_id: str, client_id: str, *, recipients: list[str], purposes: list[str],
                    categories: list[str], granted_on: date = date(2025, 2, 3),
                    valid_until: date | None = None) -> str:
        consent_id = f"consent-{uuid.uuid4().hex[:10]}"
        await self.emit(cases.ConsentGranted(
            case_id=case_id, consent_id=consent_id, recipients=recipients, purposes=purposes,
            data_categories=categories, special_categories=False, form="schriftlich", informed_in="ar",
            granted_on=granted_on, valid_until=valid_until, recorded_by="cm-4711"), subject=client_id)
        return consent_id

    async def erase(self, client_id: str, *, decided_on: bool = True) -> None:
        await self.emit(cases.ClientErased(client_id=client_id, key_id=f"key-{client_id}",
                                           erased_at=datetime.now(UTC)), subject=client_id, decided_on=decided_on)

    async def withdraw(self, case_id: str, client_id: str, consent_id: str, *, decided_on: bool = True,
                       **scope) -> None:
        await self.emit(cases.ConsentWithdrawn(
            case_id=case_id, consent_id=consent_id, scope=scope.pop("scope", "alle"),
            effective_at=datetime.now(UTC), **scope), subject=client_id, decided_on=decided_on)


class PartnerTopicReader:
    """A partner agency's plain aiokafka consumer of kim.partner.<org>, from the beginning. Given `api` (the
    referrals service's client and the partner's headers) it opens each sealed snapshot as a partner does, with the
    key from GET /partner/referrals/{id}/key: "data" is then the snapshot inside, "sealed" the record's value."""

    def __init__(self, bootstrap: str, topic: str, api: tuple[httpx.AsyncClient, dict[str, str]] | None = None):
        self.bootstrap, self.topic, self.records, self.api, self.keys = bootstrap, topic, [], api, {}
        self.consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"agency-{uuid.uuid4().hex}",
                                         auto_offset_reset="earliest", fetch_max_wait_ms=5)

    async def __aenter__(self) -> PartnerTopicReader:
        await ensure_topics(self.bootstrap, self.topic)
        await self.consumer.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.consumer.stop()

    async def wait_for(self, predicate, timeout: float = 30.0) -> list[dict]:
        """Poll until some record (as {key, headers, data}) satisfies predicate; returns all records read."""
        async def found():
            batch = await self.consumer.getmany(timeout_ms=100)
            for msgs in batch.values():
                for m in msgs:
                    record = {"key": m.key.decode(), "headers": {k: v.decode() for k, v in m.headers},
                              "data": json.loads(m.value) if m.value is not None else {},
                              "tombstone": m.value is None, "raw": m.value or b""}
                    if self.api and record["headers"]["ce_type"] == SEALED:
                        record["sealed"], record["data"] = record["data"], await self.open(record["data"])
                    self.records.append(record)
            return any(predicate(r) for r in self.records)

        await eventually(found, timeout=timeout)
        return self.records


    async def open(self, sealed: dict) -> dict:
        """The snapshot inside (with the key the partner API gives), or {} once the key is gone (410)."""
        referral_id = sealed["referral_id"]
        if referral_id not in self.keys:
            client, headers = self.api
            answer = await client.get(f"/partner/referrals/{referral_id}/key", headers=headers)
            if answer.status_code == 410:
                return {}
            assert answer.status_code == 200, answer.text
            self.keys[referral_id] = base64.b64decode(answer.json()["key"])
        return json.loads(AESGCM(self.keys[referral_id]).decrypt(
            base64.b64decode(sealed["sealed"]["nonce"]), base64.b64decode(sealed["sealed"]["ciphertext"]),
            f"{referral_id}:{sealed['version']}".encode()))


SEALED = "kim.partner.PartnerReferralSealedSnapshot"
eventually = partial(_eventually, timeout=30.0, every=0.02)

async def read_to_end(bootstrap: str, topics: list[str] | None = None, *, partner_topics: bool = False) -> list[str]:
    """Every record now on the topics (or on every kim.partner.* topic), each as one text: key, headers, value."""
    if partner_topics:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            topics = [t for t in await admin.list_topics() if t.startswith("kim.partner.")]
        finally:
            await admin.close()
    return [f"{m.key.decode()} {m.headers!r} {(m.value or b'').decode()}"
            for records in (await read_records(bootstrap, list(topics or []))).values() for m in records]


async def read_records(bootstrap: str, topics: list[str]) -> dict[str, list]:
    """Every record now on each of the topics (those that exist), as aiokafka ConsumerRecords per topic."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        described = await admin.describe_topics([t for t in topics if t in existing])
    finally:
        await admin.close()
    partitions = [TopicPartition(d["topic"], p["partition"]) for d in described for p in d["partitions"]]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    try:
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        records: dict[str, list] = {t: [] for t in topics}

        async def all_read():
            for tp, msgs in (await consumer.getmany(timeout_ms=100)).items():
                records[tp.topic].extend(m for m in msgs if m.offset < ends[tp])
            return all([await consumer.position(tp) >= end for tp, end in ends.items()])

        await eventually(all_read)
        return records
    finally:
        await consumer.stop()
