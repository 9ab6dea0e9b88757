"""A partner's feedback words (POST /partner/feedback `detail`) are free text nobody checks for personal data; a
probe put a name and a date of birth in them and found the text in kim.referrals' Kafka log segments. Since contract
6.0.0 PartnerFeedbackReceived v2 carries no `detail`: the referrals service keeps it in partner_feedback_details for
the operators' list and deletes it when the referral the report names is revoked (here: the client's erasure).
Both real services, real Kafka; checked on the records and the raw bytes of kim.referrals' segments."""

from __future__ import annotations

import json

import asyncpg
import pytest
from kim_runtime.topics import partner_topic

from .support import ADMIN, ensure_topics, eventually, new_org, partner, referrals_service, register
from .with_cases import CASEWORKER, TEAM_LEAD, Kreis, cases_service, ok
from tests.bodies import ERASURE
from tests.integration.cases.kafka_tail import records_of
from tests.integration.log_segments import segment_bytes

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

PROBE = "Antrag Zyxwq ProbemannF geb 05.06.1987"
UNNAMED = "Zyxwq ProbemannG ohne Schluessel"  # a report naming no referral: kept 30 days


async def test_the_partners_words_stay_in_the_store_and_go_with_the_revocation(fresh_db, cases_db, kafka_bootstrap):
    await ensure_topics(kafka_bootstrap, "kim.cases", "kim.referrals")
    abh = new_org("abh")
    async with cases_service(cases_db, kafka_bootstrap) as cases, \
            referrals_service(fresh_db, kafka_bootstrap, cases_transport=cases.internal) as refs:
        kreis = Kreis(cases, refs)
        await register(refs, abh)
        client_id, case_id = await kreis.client_with_case("Zyxwq Probemann")
        await kreis.consent(case_id, [abh])
        made = await ok(await kreis.refer(case_id, abh), 201)
        mine = made["partner_referral_id"]
        reported = await ok(await refs.post("/partner/feedback", headers=partner(abh), json={
            "key": mine, "problem": "other", "detail": PROBE}), 202)
        unnamed = await ok(await refs.post("/partner/feedback", headers=partner(abh), json={
            "problem": "not-json", "detail": UNNAMED}), 202)

        async def listed() -> dict[str, dict]:
            rows = await ok(await refs.get("/partner-feedback", headers=ADMIN))
            return {r["feedback_id"]: r for r in rows}

        shown = await listed()
        assert (shown[reported["feedback_id"]]["detail"], shown[reported["feedback_id"]]["key"]) == (PROBE, mine)
        assert shown[unnamed["feedback_id"]]["detail"] == UNNAMED
        assert shown[reported["feedback_id"]]["topic"] == partner_topic(abh)

        records = await records_of(kafka_bootstrap, "kim.referrals",
                                   {reported["feedback_id"], unnamed["feedback_id"]}, at_least=2)
        for m in records:
            data = json.loads(m.value)
            assert dict(m.headers)["ce_schemaversion"] == b"2" and "detail" not in data
            assert "Zyxwq" not in m.value.decode() and "Zyxwq" not in json.dumps(
                {k: v.decode() for k, v in m.headers})

        await ok(await cases.post(f"/clients/{client_id}/erasure", headers=TEAM_LEAD, json=ERASURE))

        async def revoked():
            rows = await ok(await refs.get(f"/cases/{case_id}/referrals", headers=CASEWORKER))
            return rows if rows and all(r["state"] == "revoked" for r in rows) else None

        await eventually(revoked)
        after = await listed()
        assert after[reported["feedback_id"]]["detail"] == "", "deleted with the referral's revocation"
        assert after[reported["feedback_id"]]["problem"] == "other"  # the report itself stays (the event)
        assert after[unnamed["feedback_id"]]["detail"] == UNNAMED
        conn = await asyncpg.connect(fresh_db)
        try:
            kept = await conn.fetch("SELECT feedback_id FROM partner_feedback_details")
            assert [r["feedback_id"] for r in kept] == [unnamed["feedback_id"]]
            await conn.execute("UPDATE partner_feedback_details SET received_at = now() - interval '31 days'")
            await listed()  # a listing deletes the words of reports older than 30 days
            assert await conn.fetchval("SELECT count(*) FROM partner_feedback_details") == 0
        finally:
            await conn.close()
        assert (await listed())[unnamed["feedback_id"]]["detail"] == ""

    segments = segment_bytes("kim.referrals")
    if not segments:
        pytest.skip("the stack's Kafka is not local: no segments to read")
    assert reported["feedback_id"].encode() in segments, "the search reads the records as stored"
    assert b"Zyxwq" not in segments and b"ProbemannF" not in segments, "in kim.referrals' log segments"
