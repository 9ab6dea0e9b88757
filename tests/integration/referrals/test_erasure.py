"""Erasure reaches the referrals service (issue 13): ClientErased on kim.cases revokes every open referral of the
client at every partner (reason loeschung: the partner topic says purge, the partner API shows it revoked), the gate
drops the client's facts, and nothing new is accepted for them: no referral (referrals service), no consent and no
casework (cases service), each refused with a 409 that names the erasure. Both real services, real Kafka."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from kim_runtime.topics import partner_topic

from .support import (
    consented_case,
    CASE_MANAGER, CasesStandIn, PartnerTopicReader, consent_known, ensure_topics, eventually, new_org, partner,
    referrals_service, register,
)
from .with_cases import CASEWORKER, TEAM_LEAD, Kreis, cases_service, ok
from tests.bodies import ERASURE

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def test_erasing_a_client_revokes_their_referrals_everywhere_and_refuses_anything_new(
    fresh_db, cases_db, kafka_bootstrap
):
    await ensure_topics(kafka_bootstrap, "kim.cases", "kim.referrals")
    abh, jobcenter = new_org("abh"), new_org("jc")
    async with cases_service(cases_db, kafka_bootstrap) as cases, \
            referrals_service(fresh_db, kafka_bootstrap, cases_transport=cases.internal) as refs:
        kreis = Kreis(cases, refs)
        for org in (abh, jobcenter):
            await register(refs, org)
        client_id, case_id = await kreis.client_with_case("Samir Al-Khatib")
        _, other_case = await kreis.client_with_case("Amina Haddad")  # another client: left alone
        await ok(await cases.post(f"/cases/{case_id}/residence-status", headers=CASEWORKER, json={
            "status": "duldung_60a", "status_since": "2024-06-01", "perspective": "gelb"}))
        known = await eventually(lambda: _gate_facts(fresh_db, client_id, case_id,
                                                    lambda f: f["residence_status"]))
        # the languages travel encrypted (ClientRegistered v2): the gate never learns them
        assert (list(known["languages"]), known["residence_status"], known["erased_at"]) == ([], "duldung_60a", None)
        await kreis.consent(case_id, [abh, jobcenter])
        await kreis.consent(other_case, [abh])
        to_abh = await ok(await kreis.refer(case_id, abh), 201)
        to_jc = await ok(await kreis.refer(case_id, jobcenter), 201)
        bystander = await ok(await kreis.refer(other_case, abh), 201)
        await ok(await refs.post(f"/partner/referrals/{to_jc['partner_referral_id']}/accept",
                                 headers=partner(jobcenter)))

        await ok(await cases.post(f"/clients/{client_id}/erasure", headers=TEAM_LEAD, json=ERASURE))

        async def both_revoked():
            rows = (await ok(await refs.get(f"/cases/{case_id}/referrals", headers=CASEWORKER)))
            return rows if all(r["state"] == "revoked" for r in rows) else None
        rows = await eventually(both_revoked)
        assert {(r["referral_id"], r["revocation_reason"]) for r in rows} == {
            (to_abh["referral_id"], "loeschung"), (to_jc["referral_id"], "loeschung")}
        assert (await ok(await refs.get(f"/referrals/{bystander['referral_id']}", headers=CASEWORKER)))["state"] == (
            "requested")

        for org, made in ((abh, to_abh), (jobcenter, to_jc)):
            mine = made["partner_referral_id"]
            async with PartnerTopicReader(kafka_bootstrap, partner_topic(org)) as agency:
                records = await agency.wait_for(
                    lambda m: m["key"] == mine and m["headers"]["ce_type"] == "kim.partner.PartnerReferralRevoked")
            [purge] = [m for m in records if m["key"] == mine and m["data"].get("purge")]
            assert (purge["data"]["reason"], purge["data"]["purge"]) == ("loeschung", True)
            gone = await refs.get(f"/partner/referrals/{mine}", headers=partner(org))
            assert gone.status_code == 410 and gone.json()["reason"] == "loeschung", gone.text

        refused = await refs.post("/referrals", headers=CASEWORKER, json={
            "case_id": case_id, "to_organisation_id": abh, "purpose": "aufenthaltssicherung",
            "data_categories": ["aufenthalt"]})
        assert refused.status_code == 409 and "was erased" in refused.json()["detail"], refused.text
        assert "right to erasure" in refused.json()["detail"]
        assert (await kreis.refer(other_case, jobcenter)).status_code == 409  # no consent for jobcenter: the gate

        no_consent = await cases.post(f"/cases/{case_id}/consents", headers=CASEWORKER, json={
            "recipients": [abh], "purposes": ["aufenthaltssicherung"], "data_categories": ["aufenthalt"],
            "form": "schriftlich", "informed_in": "uk"})
        assert no_consent.status_code == 409 and "was erased" in no_consent.json()["detail"], no_consent.text
        casework = [("assessment", {"domains": [{"domain": "arbeit", "need": "hoch", "resources": "mittel"}],
                                    "rechtskreis": "SGB_II"}),
                    ("residence-status", {"status": "duldung_60a", "status_since": "2024-06-01",
                                          "perspective": "gelb"}),
                    ("milestones", {"milestone": "sprachkurs_beginn"})]
        for path, body in casework:
            r = await cases.post(f"/cases/{case_id}/{path}", headers=CASEWORKER, json=body)
            assert r.status_code == 409 and "was erased" in r.json()["detail"], (path, r.text)
        closed = await cases.post(f"/cases/{case_id}/closure", headers=CASEWORKER, json={"reason": "sonstiges"})
        assert closed.status_code == 200, closed.text  # the case can still be closed

    left = await _gate_facts(fresh_db, client_id, case_id, lambda f: True)
    assert (list(left["languages"]), left["residence_status"], left["rechtskreis"]) == ([], None, None)
    assert left["erased_at"] is not None


async def _gate_facts(dsn: str, client_id: str, case_id: str, wanted):
    """What the consent gate holds about the client and the case (their languages, residence status, Rechtskreis)."""
    conn = await asyncpg.connect(dsn)
    try:
        facts = await conn.fetchrow(
            "SELECT c.languages, c.erased_at, k.residence_status, k.rechtskreis FROM consent_gate.gate_clients c "
            "JOIN consent_gate.gate_cases k USING (client_id) WHERE c.client_id = $1 AND k.case_id = $2",
            client_id, case_id)
    finally:
        await conn.close()
    return facts if facts is not None and wanted(facts) else None


async def test_no_referral_made_while_the_erasure_arrives_survives_it(fresh_db, kafka_bootstrap):
    """Requests lock the case and its client's row; the erasure waits for them and then revokes what they made, or
    they wait for it and are refused. No request fails otherwise (no deadlock between the two). The worst case:
    the cases service's consent decisions never see the erasure (each given just before it)."""
    await ensure_topics(kafka_bootstrap, "kim.cases", "kim.referrals")
    jobcenter = new_org("jc")
    async with referrals_service(fresh_db, kafka_bootstrap) as client, CasesStandIn(kafka_bootstrap) as cases:
        await register(client, jobcenter)
        case_id, client_id, consent_id = await consented_case(
            client, cases, jobcenter, purposes=["aufenthaltssicherung"], categories=["aufenthalt"])
        body = {"case_id": case_id, "to_organisation_id": jobcenter, "purpose": "aufenthaltssicherung",
                "data_categories": ["aufenthalt"]}

        async def keep_referring() -> list[int]:
            codes = []
            for _ in range(40):
                codes.append((await client.post("/referrals", headers=CASE_MANAGER, json=body)).status_code)
                if codes[-1] != 201:
                    break
            return codes

        referring = [asyncio.create_task(keep_referring()) for _ in range(4)]
        await cases.erase(client_id, decided_on=False)
        codes = [c for t in referring for c in await t]
        assert set(codes) <= {201, 409} and 201 in codes, codes

        async def all_revoked():
            rows = (await client.get(f"/cases/{case_id}/referrals", headers=CASE_MANAGER)).json()
            return rows if rows and all(r["state"] == "revoked" for r in rows) else None
        rows = await eventually(all_revoked)
        assert len(rows) == codes.count(201) and {r["revocation_reason"] for r in rows} == {"loeschung"}
        refused = await client.post("/referrals", headers=CASE_MANAGER, json=body)
        assert refused.status_code == 409 and "was erased" in refused.text
