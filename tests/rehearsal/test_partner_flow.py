"""A partner's whole working flow on the broker compose runs (SASL/SCRAM, ACLs, the SASL_SSL partner listener), with
nothing but its onboarding sheet: onboard -> the offer on its topic -> accept -> appointment -> outcome -> the
consented person data read once (recorded in /clients/{id}/reads) -> revocation -> the reference consumer purges
(the referral's key too); before compaction a consumer in a new group opens none of the revoked referral's sealed
snapshots (the key answers 410; neither pseudonym nor codes in the raw bytes); after compaction it never receives
them. Then rotation: an open consumer with the
old password stops being served (connections.max.reauth.ms, 10 s in the rehearsal), and running kafka-init again
with a rotated partner listed in KIM_PARTNERS does not reset its password.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from kim_cli.audit.kafka_io import partitions
from kim_cli.partner_cmd import Sheet
from kim_cli.partner_kafka import scram
from kim_runtime.auth import Principal, Role
from kim_runtime.topics import partner_group_prefix, partner_topic

from tests.e2e.support import Caller, eventually
from tests.integration.referrals.test_reference_partner_consumer import COMPACT_FAST, snippets
from tests.rehearsal.test_onboarding import LUENEN, TEAM, consume, kim, refused_login, tls
from tests.rehearsal.topology import REAUTH_MS, Rehearsal, partner_passwords

FLOW_ORG = "ibz-kreis-unna"  # in no KIM_PARTNERS entry
CUT_ORG = "sozialwerk-unna"
KEEP_ORG = "awo-luenen"


async def admin_records(rehearsal: Rehearsal, topic: str) -> list:
    """Everything on the topic now (the admin, no group)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=rehearsal.bootstrap, group_id=None, enable_auto_commit=False,
                                **rehearsal.admin_options())
    await consumer.start()
    try:
        tps = await partitions(consumer, topic)
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends, out = await consumer.end_offsets(tps), []
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                out += records
        return out
    finally:
        await consumer.stop()


async def referred_client(rehearsal: Rehearsal, http: httpx.AsyncClient, org: str, tag: str) -> dict:
    urls = {s: rehearsal.url(s) for s in ("cases", "referrals")}
    manager = Caller(http, urls, rehearsal.env["KIM_AUTH_SECRET"],
                     Principal(sub=f"cm-{tag}", role=Role.CASE_MANAGER, team=TEAM, municipality=LUENEN))
    name = f"Oksana Flow {tag}"
    client = await manager.expect(201, "POST", "cases", "/clients", {
        "name": name, "date_of_birth": "1988-03-04", "address": "Bahnhofstr. 5, 59423 Unna",
        "contact": "+49 157 1234567", "languages": ["uk"], "arrival_year": 2022})
    case = await manager.expect(201, "POST", "cases", "/cases", {
        "client_id": client["client_id"], "municipality": LUENEN, "team": "stadt", "team_organisation_id": TEAM,
        "access_channel": "jobcenter"})
    categories = ["stammdaten", "kontaktdaten", "aufenthalt"]
    consent = await manager.expect(201, "POST", "cases", f"/cases/{case['case_id']}/consents", {
        "recipients": [org], "purposes": ["aufenthaltssicherung"], "data_categories": categories,
        "form": "schriftlich", "informed_in": "uk"})

    async def referred():
        r = await http.post(f"{urls['referrals']}/referrals", headers=manager.headers, json={
            "case_id": case["case_id"], "to_organisation_id": org, "purpose": "aufenthaltssicherung",
            "data_categories": categories})
        return r.json() if r.status_code == 201 else None

    referral = await eventually(referred, what="the referrals service knows the consent and takes the referral")
    return {"manager": manager, "client": client["client_id"], "case": case["case_id"], "name": name,
            "consent": consent["consent_id"], "key": referral["partner_referral_id"]}


async def test_a_partner_works_a_referral_and_purges_it_for_good_from_its_sheet_alone(rehearsal, tmp_path,
                                                                                     monkeypatch):
    sheet = kim(rehearsal, "onboard", FLOW_ORG, "--name", "IBZ Kreis Unna", "--kind", "wohlfahrtsverband")
    tag, topic = uuid.uuid4().hex[:8], partner_topic(FLOW_ORG)
    (tmp_path / "kim-ca.pem").write_text(sheet["ca_certificate"])
    for name, value in Sheet(**sheet).env(str(tmp_path / "kim-ca.pem")).items():  # PARTNERS.md's code reads these
        monkeypatch.setenv(name, value)
    group = f"{partner_group_prefix(FLOW_ORG)}agency-{tag}"
    async with httpx.AsyncClient(timeout=60) as http:
        made = await referred_client(rehearsal, http, FLOW_ORG, tag)
        key = made["key"]

        async def offered():
            stats, view = consume(sheet, tmp_path, group)
            return view if view.get(key) == "requested" else None
        await eventually(offered, timeout_s=120, what="the reference consumer reads the offer over SASL_SSL")

        # the documented code, with the sheet's token: accept, read the person data once, appointment, outcome
        reported, person = await snippets()["work"]["work"](key, "2025-04-02", "aufenthaltstitel_erteilt")
        assert (reported["state"], reported["version"]) == ("outcome_reported", 4), reported
        assert person["person"]["name"] == made["name"]
        assert person["categories"] == ["kontaktdaten", "stammdaten"]
        admin = Caller(http, {"cases": rehearsal.url("cases")}, rehearsal.env["KIM_AUTH_SECRET"],
                       Principal(sub=f"admin-{tag}", role=Role.ADMIN))
        reads = await admin.expect(200, "GET", "cases", f"/clients/{made['client']}/reads")
        assert [r["fields"] for r in reads if r["actor"] == f"partner:{FLOW_ORG}"] == [
            ["address", "contact", "date_of_birth", "name"]], reads  # once, with the partner as reader

        async def worked():
            stats, view = consume(sheet, tmp_path, group)
            return view if view.get(key) == "outcome_reported" else None
        await eventually(worked, timeout_s=120, what="the consumer's view has the outcome")
        sheet_token = {"Authorization": f"Bearer {sheet['api_token']}"}
        pseudonym = (await http.get(f"{sheet['api_base_url']}/partner/referrals/{key}", headers=sheet_token)
                     ).json()["client_pseudonym"]

        # revocation: the consent withdrawn; notice and tombstone on the topic; the consumer purges; the API 410
        await made["manager"].expect(200, "POST", "cases",
                                     f"/cases/{made['case']}/consents/{made['consent']}/withdrawal", {"scope": "alle"})

        async def purged():
            stats, view = consume(sheet, tmp_path, group)
            return stats if key not in view else None
        await eventually(purged, timeout_s=120, what="the reference consumer purges the revoked referral")
        api = await http.get(f"{sheet['api_base_url']}/partner/referrals/{key}",
                             headers={"Authorization": f"Bearer {sheet['api_token']}"})
        assert api.status_code == 410 and api.json()["reason"] == "einwilligung_widerrufen", api.text
        key_answer = await http.get(f"{sheet['api_base_url']}/partner/referrals/{key}/key", headers=sheet_token)
        assert key_answer.status_code == 410, key_answer.text  # destroyed with the revocation

    # before compaction: a new group (the sheet's settings) receives the sealed snapshots but opens none of them
    late, late_view = consume(sheet, tmp_path, f"{partner_group_prefix(FLOW_ORG)}late-{tag}")
    assert key not in late_view and late["sealed_for_good"] == 4 and late["reported"] == 0, (late, late_view)
    raw = " ".join(f"{r.key!r} {r.headers!r} {r.value!r}" for r in await admin_records(rehearsal, topic)
                   if r.key.decode() == key)
    assert pseudonym not in raw and "aufenthaltstitel_erteilt" not in raw and "outcome_reported" not in raw

    told = [(dict(r.headers)["ce_type"].decode().rsplit(".", 1)[1], r.value is None)
            for r in await admin_records(rehearsal, topic) if r.key.decode() == key]
    assert told == [("PartnerReferralSealedSnapshot", False)] * 4 + [("PartnerReferralRevoked", False),
                                                                ("PartnerReferralTombstone", True)], told
    partition = next(r.partition for r in await admin_records(rehearsal, topic) if r.key.decode() == key)

    # compaction, forced on this topic: segments roll every second, a filler record (another key, the same
    # partition) starts a new segment so the cleaner can take the old one
    admin = AIOKafkaAdminClient(bootstrap_servers=rehearsal.bootstrap, **rehearsal.admin_options())
    await admin.start()
    try:
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs=COMPACT_FAST)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=rehearsal.bootstrap, **rehearsal.admin_options())
    await producer.start()
    started, compacted_after = time.monotonic(), None
    try:
        while compacted_after is None and time.monotonic() - started < 180:
            await asyncio.sleep(1.2)
            await producer.send_and_wait(topic, None, key=f"filler-{uuid.uuid4().hex[:6]}".encode(),
                                         partition=partition)
            if not [r for r in await admin_records(rehearsal, topic) if r.key.decode() == key and r.value is not None]:
                compacted_after = time.monotonic() - started
    finally:
        await producer.stop()
    assert compacted_after is not None, "the log cleaner did not compact the partner topic within 180 s"

    # a new consumer group (the sheet's settings) never receives what was purged
    stats, view = consume(sheet, tmp_path, f"{partner_group_prefix(FLOW_ORG)}fresh-{tag}")
    assert key not in view, view
    everything = " ".join(f"{r.key!r} {r.headers!r} {r.value!r}" for r in await admin_records(rehearsal, topic))
    assert made["name"] not in everything and "aufenthaltstitel_erteilt" not in everything
    assert pseudonym not in everything
    print(f"\nPARTNER FLOW (SASL_SSL, sheet only): offer -> accept -> appointment -> outcome -> /person once -> "
          f"revoked -> purged; compacted {compacted_after:.1f} s after the first roll; a fresh group read "
          f"{stats['records']} record(s), none of the purged referral's data")


async def test_rotation_cuts_an_open_consumer_of_the_old_password(rehearsal, caplog):
    old = kim(rehearsal, "onboard", CUT_ORG, "--name", "Sozialwerk Unna", "--kind", "wohlfahrtsverband")
    topic, user = partner_topic(CUT_ORG), old["kafka_user"]

    def consumer(sheet: dict) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(bootstrap_servers=rehearsal.partner_bootstrap, group_id=None,
                                enable_auto_commit=False, request_timeout_ms=10_000,
                                **scram(user, sheet["kafka_password"], security_protocol="SASL_SSL",
                                        ssl_context=tls(rehearsal)))

    async def open_on(c: AIOKafkaConsumer) -> None:
        await c.start()
        tps = await partitions(c, topic)
        assert tps, f"{topic} has no partitions the partner can see"
        c.assign(tps)
        await c.seek_to_end(*tps)

    async def markers(c: AIOKafkaConsumer, polls: int) -> list[bytes]:
        got = []
        for _ in range(polls):
            got += [r.value for records in (await c.getmany(timeout_ms=1000)).values() for r in records]
        return got

    before = consumer(old)
    await open_on(before)  # an open session of the old password, fetching
    try:
        new = kim(rehearsal, "rotate", CUT_ORG)
        caplog.clear()
        await markers(before, polls=REAUTH_MS // 1000 + 5)  # past connections.max.reauth.ms since its login
        # the broker ended the session; logging in again with the old password is refused
        assert any("SaslAuthenticationFailed" in r.getMessage() for r in caplog.records), \
            "the open session of the old password was not cut"
        producer = AIOKafkaProducer(bootstrap_servers=rehearsal.bootstrap, **rehearsal.admin_options())
        await producer.start()
        try:
            for p in await producer.partitions_for(topic):
                await producer.send_and_wait(topic, b"after-rotation", key=b"marker", partition=p)
        finally:
            await producer.stop()
        after = consumer(new)
        await open_on(after)
        try:
            await after.seek_to_beginning()

            async def delivered():
                return b"after-rotation" in await markers(after, polls=1)
            await eventually(delivered, timeout_s=60, what="the new password's consumer reads the marker")
        finally:
            await after.stop()
        assert b"after-rotation" not in await markers(before, polls=5), "the old password's session is still served"
    finally:
        # stopping a consumer whose broker refuses it: aiokafka's fetch task may end with an error of its own
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await before.stop()

    print(f"\nROTATION: the old password's open consumer stopped being served within connections.max.reauth.ms "
          f"({REAUTH_MS} ms here, 1 hour in compose)")


async def test_running_kafka_init_again_keeps_a_rotated_partners_password(rehearsal):
    """The partner listed in KIM_PARTNERS with its first password, rotated since: kafka-init leaves it alone."""
    old = kim(rehearsal, "onboard", KEEP_ORG, "--name", "AWO Lünen", "--kind", "wohlfahrtsverband")
    new = kim(rehearsal, "rotate", KEEP_ORG)
    output = rehearsal.run_kafka_init(extra_env={
        "KIM_PARTNERS": f"{rehearsal.env['KIM_PARTNERS']},{KEEP_ORG}:{old['kafka_password']}"})
    assert f"partner-{KEEP_ORG} exists: its password is kept" in output
    user = new["kafka_user"]
    assert await refused_login(rehearsal.partner_bootstrap, user, new["kafka_password"], tls(rehearsal)) == "LOGGED IN"
    assert await refused_login(rehearsal.partner_bootstrap, user, old["kafka_password"], tls(rehearsal)) != "LOGGED IN"
    # the partners kafka-init made on the first run still log in with their KIM_PARTNERS passwords
    first, password = next(iter(partner_passwords(rehearsal.env).items()))
    assert await refused_login(rehearsal.external_bootstrap, f"partner-{first}", password, None) == "LOGGED IN"
