"""Consent granted → referral → partner topic → accept → appointment → outcome → the cases side reads it."""

from __future__ import annotations

import json
import uuid
from urllib.parse import urlsplit

import pytest
from aiokafka import AIOKafkaConsumer
from jsonschema import Draft202012Validator
from kim_runtime.topics import partner_topic
from kim_schemas.contract import CONTRACT_VERSION
from kim_schemas.generate import SCHEMAS_DIR

from .support import (
    consented_case,
    ADMIN, CASE_MANAGER, CasesStandIn, PartnerTopicReader, consent_known, ensure_topics, eventually, new_org, partner,
    referrals_service, register,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def test_the_whole_lifecycle_runs_over_kafka(fresh_db, kafka_bootstrap):
    await ensure_topics(kafka_bootstrap, "kim.cases", "kim.referrals")
    jobcenter = new_org("jc")
    async with referrals_service(fresh_db, kafka_bootstrap) as client, CasesStandIn(kafka_bootstrap) as cases:
        await register(client, jobcenter)
        case_id, client_id, consent_id = await consented_case(
            client, cases, jobcenter, purposes=["arbeitsmarktintegration"],
            categories=["arbeit_qualifikation", "aufenthalt"])
        r = await client.post("/referrals", headers=CASE_MANAGER, json={
            "case_id": case_id, "to_organisation_id": jobcenter, "purpose": "arbeitsmarktintegration",
            "data_categories": ["arbeit_qualifikation", "aufenthalt"], "due_on": "2025-04-30"})
        assert r.status_code == 201, r.text
        referral = r.json()
        rid, mine = referral["referral_id"], referral["partner_referral_id"]
        assert (referral["state"], referral["consent_id"]) == ("requested", consent_id)
        assert mine and mine != rid  # the partner knows the referral by an id of its own
        assert r.headers["ETag"] == '"2"'  # the gate's decision (ConsentChecked) and the request, in one append

        me = partner(jobcenter)
        async with PartnerTopicReader(kafka_bootstrap, partner_topic(jobcenter), api=(client, me)) as agency:
            records = await agency.wait_for(lambda m: m["key"] == mine)
            offer = next(m for m in records if m["key"] == mine)
            assert offer["headers"]["ce_type"] == "kim.partner.PartnerReferralSealedSnapshot"
            assert set(offer["sealed"]) == {"referral_id", "version", "sealed"}  # all else is sealed
            assert (offer["data"]["version"], offer["headers"]["ce_streamversion"]) == (1, "1")  # the partner's count
            assert offer["data"]["state"] == "requested" and "correlation_id" not in offer["headers"]
            assert "." not in offer["data"]["offered_at"] and "." not in offer["headers"]["ce_time"]  # whole seconds
            assert offer["data"]["residence_status"] == "duldung_60a"  # 'aufenthalt' is shared
            assert offer["data"]["languages"] is None  # 'sprache_bildung' is not
            pseudonym = offer["data"]["client_pseudonym"]
            assert client_id not in offer["raw"].decode() and client_id not in json.dumps(offer["headers"])
            assert "ce_subject" not in offer["headers"] and pseudonym not in offer["raw"].decode()
            assert "duldung_60a" not in offer["raw"].decode() and "arbeitsmarktintegration" not in offer["raw"].decode()
            assert offer["data"]["referral_id"] == mine and offer["data"]["consent_id"] != consent_id
            assert rid not in offer["raw"].decode() and rid not in json.dumps(offer["headers"])

            assert (await client.get(f"/partner/referrals/{rid}", headers=me)).status_code == 404  # internal id
            seen = await client.get(f"/partner/referrals/{mine}", headers=me)
            assert seen.json() == offer["data"]  # the API answers exactly the topic's newest record
            assert seen.headers["ETag"] == f'"{offer["headers"]["ce_streamversion"]}"'
            stale = await client.post(f"/partner/referrals/{mine}/accept", headers=me | {"If-Match": '"99"'})
            assert stale.status_code == 412 and rid not in stale.text
            accepted = await client.post(f"/partner/referrals/{mine}/accept",
                                         headers=me | {"If-Match": seen.headers["ETag"]})
            assert accepted.status_code == 200, accepted.text
            assert accepted.json()["client_pseudonym"] == pseudonym
            again = await client.post(f"/partner/referrals/{mine}/accept", headers=me)
            assert again.status_code == 409 and rid not in again.text  # refusals never name the internal id
            scheduled = await client.post(f"/partner/referrals/{mine}/appointment", headers=me,
                                          json={"appointment_on": "2025-03-20"})
            assert scheduled.json()["state"] == "appointment_scheduled"
            reported = await client.post(f"/partner/referrals/{mine}/outcome", headers=me | {
                "If-Match": scheduled.headers["ETag"]}, json={"outcome": "massnahme_begonnen"})
            assert reported.status_code == 200, reported.text

            states = lambda: [m["data"].get("state") for m in agency.records if m["key"] == mine]  # noqa: E731
            await agency.wait_for(lambda m: m["key"] == mine and m["data"].get("state") == "outcome_reported")
            assert states() == ["requested", "accepted", "appointment_scheduled", "outcome_reported"]
            mine_records = [m for m in agency.records if m["key"] == mine]
            assert [m["headers"]["ce_streamversion"] for m in mine_records] == ["1", "2", "3", "4"]
            assert [m["data"]["version"] for m in mine_records] == [1, 2, 3, 4]
            last = mine_records[-1]["data"]  # a full snapshot: the appointment is still there with the outcome
            assert (last["appointment_on"], last["outcome"], last["residence_status"]) == (
                "2025-03-20", "massnahme_begonnen", "duldung_60a")
            assert (await client.get(f"/partner/referrals/{mine}", headers=me)).json() == last

            # each record names its versioned schema; the partner API serves exactly the committed file
            url = offer["headers"]["ce_dataschema"]
            assert url.endswith("/partner/schemas/kim.partner.PartnerReferralSealedSnapshot/1")
            served = await client.get(urlsplit(url).path, headers=me)
            committed = (SCHEMAS_DIR / "json/kim.partner.PartnerReferralSealedSnapshot/v1.json").read_text()
            assert served.status_code == 200 and served.json() == json.loads(committed)
            assert not list(Draft202012Validator(served.json()).iter_errors(mine_records[-1]["sealed"]))
            inner = await client.get("/partner/schemas/kim.partner.PartnerReferralSnapshot/2", headers=me)
            assert not list(Draft202012Validator(inner.json()).iter_errors(last))  # what the sealed one holds
            index = (await client.get("/partner/schemas", headers=me)).json()
            assert index["contract_version"] == CONTRACT_VERSION
            assert (await client.get("/partner/schemas/kim.cases.CaseOpened/1", headers=me)).status_code == 404
            reported = await client.post("/partner/feedback", headers=me, json={
                "partition": 0, "offset": 7, "key": mine, "problem": "invalid-data", "detail": "no such field"})
            assert reported.status_code == 202, reported.text
            listed = (await client.get("/partner-feedback", headers=ADMIN)).json()
            assert listed[0] == {**listed[0], "organisation_id": jobcenter, "topic": partner_topic(jobcenter),
                                 "key": mine, "problem": "invalid-data"}
            assert (await client.get("/partner-feedback", headers=me)).status_code == 403

        outcome = await _on_referrals_topic(kafka_bootstrap, rid, "kim.referrals.ReferralOutcomeReported")
        assert outcome["data"] == {**outcome["data"], "case_id": case_id, "outcome": "massnahme_begonnen"}
        assert outcome["headers"]["ce_subject"] == client_id

        closed = await client.post(f"/referrals/{rid}/close", headers=CASE_MANAGER)
        assert closed.json()["state"] == "closed"
        history = (await client.get(f"/referrals/{rid}?history=true", headers=CASE_MANAGER)).json()["history"]
        assert [h["type"].split(".")[-1] for h in history if h["type"].startswith("kim.referrals.")] == [
            "ConsentChecked", "ReferralRequested", "ReferralAccepted", "AppointmentScheduled", "ReferralOutcomeReported",
            "ReferralClosed"]
        checked = next(h["data"] for h in history if h["type"] == "kim.referrals.ConsentChecked")
        assert (checked["met"], checked["consent_id"], checked["referral_id"], checked["reasons"]) == (
            True, consent_id, rid, [])
        assert checked["categories_required"] == ["arbeit_qualifikation", "aufenthalt"]
        told = [h["type"].split(".")[-1] for h in history if h["type"].startswith("kim.partner.")]
        assert told == ["PartnerReferralSealedSnapshot"] * 5
        shown = [h["data"] for h in history if h["type"].startswith("kim.partner.")]
        assert [d["state"] for d in shown] == [  # opened for the staff with the key while the referral is not revoked
            "requested", "accepted", "appointment_scheduled", "outcome_reported", "closed"]


async def _on_referrals_topic(bootstrap: str, referral_id: str, event_type: str) -> dict:
    """Read kim.referrals as the cases service does, until the event of this referral shows up."""
    consumer = AIOKafkaConsumer("kim.referrals", bootstrap_servers=bootstrap, group_id=f"cases-{uuid.uuid4().hex}",
                                auto_offset_reset="earliest")
    await consumer.start()
    found: list[dict] = []
    try:
        async def check():
            for msgs in (await consumer.getmany(timeout_ms=100)).values():
                for m in msgs:
                    headers = {k: v.decode() for k, v in m.headers}
                    if m.key.decode() == referral_id and headers["ce_type"] == event_type:
                        found.append({"headers": headers, "data": json.loads(m.value)})
            return found
        return (await eventually(check))[0]
    finally:
        await consumer.stop()
