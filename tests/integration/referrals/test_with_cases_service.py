"""Both real services over Kafka: the cases service records consent and withdraws it; the referrals service gates,
refers and revokes; the outcome a partner reports shows on the case in the cases service."""

from __future__ import annotations

import pytest
from kim_runtime.topics import partner_topic

from .support import (
    AGS, PartnerTopicReader, consent_known, ensure_topics, eventually, new_org, partner, read_to_end,
    referrals_service, register,
)
from .with_cases import CASEWORKER, cases_service, ok

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
NAME = "Oleksandr Kovalenko"


async def test_consent_in_cases_gates_the_referral_and_the_outcome_returns_to_the_case(
    fresh_db, cases_db, kafka_bootstrap
):
    await ensure_topics(kafka_bootstrap, "kim.cases", "kim.referrals")
    abh = new_org("abh")
    async with cases_service(cases_db, kafka_bootstrap) as cases, \
            referrals_service(fresh_db, kafka_bootstrap, cases_transport=cases.internal) as refs:
        await register(refs, abh, "abh")
        client_id = (await ok(await cases.post("/clients", headers=CASEWORKER, json={
            "name": NAME, "date_of_birth": "1988-11-03", "address": "Marktstr. 1, 44532 Lünen",
            "languages": ["uk"], "arrival_year": 2022}), 201))["client_id"]
        case_id = (await ok(await cases.post("/cases", headers=CASEWORKER, json={
            "client_id": client_id, "municipality": AGS, "team": "stadt", "team_organisation_id": "stadt-luenen",
            "access_channel": "selbstmeldung", "opened_on": "2025-01-10"}), 201))["case_id"]
        consent_id = (await ok(await cases.post(f"/cases/{case_id}/consents", headers=CASEWORKER, json={
            "recipients": [abh], "purposes": ["aufenthaltssicherung"], "data_categories": ["aufenthalt"],
            "form": "schriftlich", "informed_in": "uk", "granted_on": "2025-01-10"}), 201))["consent_id"]

        await consent_known(refs, case_id, consent_id)
        made = await ok(await refs.post("/referrals", headers=CASEWORKER, json={
            "case_id": case_id, "to_organisation_id": abh, "purpose": "aufenthaltssicherung",
            "data_categories": ["aufenthalt"]}), 201)
        rid, mine = made["referral_id"], made["partner_referral_id"]
        await ok(await refs.post(f"/partner/referrals/{mine}/accept", headers=partner(abh)))
        await ok(await refs.post(f"/partner/referrals/{mine}/outcome", headers=partner(abh),
                                 json={"outcome": "aufenthaltstitel_verlaengert"}))

        async def outcome_on_case():
            body = await ok(await cases.get(f"/cases/{case_id}", headers=CASEWORKER))
            return [r for r in body.get("referrals", []) if r["referral_id"] == rid and r["outcome"]]
        [seen] = await eventually(outcome_on_case)
        assert seen["outcome"] == "aufenthaltstitel_verlaengert"

        await ok(await cases.post(f"/cases/{case_id}/consents/{consent_id}/withdrawal", headers=CASEWORKER,
                                  json={"scope": "alle"}))

        async def revoked():
            body = await ok(await refs.get(f"/referrals/{rid}", headers=CASEWORKER))
            return body["state"] == "revoked"
        await eventually(revoked)
        async with PartnerTopicReader(kafka_bootstrap, partner_topic(abh)) as agency:
            await agency.wait_for(lambda m: m["key"] == mine and m["data"].get("purge") is True)
        for text in await read_to_end(kafka_bootstrap, [partner_topic(abh)]):
            assert NAME not in text and "Kovalenko" not in text and client_id not in text
