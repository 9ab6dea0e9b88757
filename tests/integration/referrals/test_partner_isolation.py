"""A partner sees and acts on its own referrals only and never reaches case data; staff reach their own cases only;
partner topics carry no names."""

from __future__ import annotations

import pytest
from kim_runtime.auth import Role
from kim_runtime.topics import partner_topic

from .support import (
    CASE_MANAGER, DEMO_NAMES, CasesStandIn, PartnerTopicReader, consent_known, ensure_topics, new_org, partner,
    read_to_end, referrals_service, register, token,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def test_one_partner_cannot_see_or_act_on_another_partners_referral(fresh_db, kafka_bootstrap):
    await ensure_topics(kafka_bootstrap, "kim.cases", "kim.referrals")
    mine, theirs = new_org("jc"), new_org("mbe")
    async with referrals_service(fresh_db, kafka_bootstrap) as client, CasesStandIn(kafka_bootstrap) as cases:
        await register(client, mine)
        await register(client, theirs, "migrationsberatung")
        case_id, client_id = await cases.open_case()
        consent_id = await cases.grant(case_id, client_id, recipients=[mine, theirs],
                                       purposes=["soziale_begleitung"], categories=["sprache_bildung"])
        await consent_known(client, case_id, consent_id)
        made = await client.post("/referrals", headers=CASE_MANAGER, json={
            "case_id": case_id, "to_organisation_id": theirs, "purpose": "soziale_begleitung",
            "data_categories": ["sprache_bildung"]})
        rid, their_id = made.json()["referral_id"], made.json()["partner_referral_id"]
        me = partner(mine)

        for unknown in (rid, their_id):  # neither the internal id nor the other partner's id reaches it
            assert (await client.get(f"/partner/referrals/{unknown}", headers=me)).status_code == 404
            refused = await client.get(f"/partner/referrals/{unknown}/key", headers=me)  # nor its key
            assert refused.status_code == 404 and "key" not in refused.json(), refused.text
        # the key: only the partner the referral went to; no staff role (the Kreis opens its records itself)
        for who in (Role.CASE_MANAGER, Role.TEAM_LEAD, Role.ADMIN, Role.AUDITOR):
            r = await client.get(f"/partner/referrals/{their_id}/key", headers=token(who, municipality="05978024"))
            assert r.status_code == 403 and "key" not in r.json(), (who, r.text)
        assert (await client.get(f"/partner/referrals/{their_id}/key")).status_code == 401
        theirs_key = await client.get(f"/partner/referrals/{their_id}/key", headers=partner(theirs))
        assert theirs_key.status_code == 200 and theirs_key.headers["cache-control"] == "no-store"
        assert theirs_key.json()["referral_id"] == their_id and theirs_key.json()["algorithm"] == "AES-256-GCM"
        for action, body in [("accept", None), ("decline", {"reason": "sonstiges"}),
                             ("appointment", {"appointment_on": "2025-04-01"}), ("outcome", {"outcome": "vermittelt"})]:
            r = await client.post(f"/partner/referrals/{their_id}/{action}", headers=me, json=body)
            assert r.status_code == 404, (action, r.text)
        assert (await client.get("/partner/referrals", headers=me)).json() == []
        theirs_list = (await client.get("/partner/referrals", headers=partner(theirs))).json()
        assert [r["referral_id"] for r in theirs_list] == [their_id] and theirs_list[0]["state"] == "requested"
        assert "case_id" not in theirs_list[0] and theirs_list[0]["consent_id"] != consent_id  # their own id of it

        for path in (f"/referrals/{rid}", f"/cases/{case_id}/referrals", f"/cases/{case_id}/consents", "/partners"):
            r = await client.get(path, headers=me)
            assert r.status_code == 403, (path, r.text)
        assert (await client.post("/referrals", headers=me, json={})).status_code == 403
        assert (await client.get("/partner/referrals", headers=CASE_MANAGER)).status_code == 403
        assert (await client.get("/partner/referrals")).status_code == 401
        assert (await client.get("/partner/referrals", headers=token(Role.AUDITOR))).status_code == 403
        assert (await client.get(f"/referrals/{rid}", headers=token(Role.AUDITOR))).status_code == 200
        elsewhere = token(Role.CASE_MANAGER, sub="cm-unna", team="stadt-unna", municipality="05978036")
        # another team's case and its referrals: as if there were none (404, worded like an unknown id)
        for method, path in [("GET", f"/referrals/{rid}"), ("GET", f"/cases/{case_id}/referrals"),
                             ("GET", f"/cases/{case_id}/consents"), ("POST", f"/referrals/{rid}/close")]:
            r = await client.request(method, path, headers=elsewhere)
            assert r.status_code == 404 and "ask the team that serves it" in r.text, (path, r.text)
        r = await client.post("/referrals", headers=elsewhere, json={
            "case_id": case_id, "to_organisation_id": theirs, "purpose": "soziale_begleitung",
            "data_categories": ["sprache_bildung"]})
        assert r.status_code == 404

        async with PartnerTopicReader(kafka_bootstrap, partner_topic(theirs),
                                      api=(client, partner(theirs))) as agency:
            [offer] = [m for m in await agency.wait_for(lambda m: m["key"] == their_id) if m["key"] == their_id]
        assert offer["sealed"]["sealed"]["key_id"] == theirs_key.json()["key_id"]
        assert offer["data"] == theirs_list[0]  # the key opens the record to what the API answers
        assert [r for r in await read_to_end(kafka_bootstrap, [partner_topic(mine)]) if their_id in r] == []


async def test_no_name_of_a_demo_client_and_no_client_id_appears_on_any_partner_topic(fresh_db, kafka_bootstrap):
    await ensure_topics(kafka_bootstrap, "kim.cases", "kim.referrals")
    orgs = [new_org("abh"), new_org("jc")]
    client_ids = []
    async with referrals_service(fresh_db, kafka_bootstrap) as client, CasesStandIn(kafka_bootstrap) as cases:
        for org in orgs:
            await register(client, org)
        for name in DEMO_NAMES:
            case_id, client_id = await cases.open_case(name=name)
            client_ids.append(client_id)
            consent_id = await cases.grant(case_id, client_id, recipients=orgs, purposes=["aufenthaltssicherung"],
                                           categories=["aufenthalt", "sprache_bildung", "leistungsbezug"])
            await consent_known(client, case_id, consent_id)
            for org in orgs:
                r = await client.post("/referrals", headers=CASE_MANAGER, json={
                    "case_id": case_id, "to_organisation_id": org, "purpose": "aufenthaltssicherung",
                    "data_categories": ["aufenthalt", "sprache_bildung", "leistungsbezug"]})
                assert r.status_code == 201, r.text
        await cases.withdraw(case_id, client_id, consent_id)
        for org in orgs:
            async with PartnerTopicReader(kafka_bootstrap, partner_topic(org)) as agency:
                await agency.wait_for(lambda m: m["headers"]["ce_type"] == "kim.partner.PartnerReferralRevoked")
    records = await read_to_end(kafka_bootstrap, partner_topics=True)
    assert len(records) >= len(DEMO_NAMES) * len(orgs) + len(orgs)
    for text in records:
        for secret in (*DEMO_NAMES, *client_ids, *(n.split()[-1] for n in DEMO_NAMES)):
            assert secret not in text
