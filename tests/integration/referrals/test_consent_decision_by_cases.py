"""The cases service decides on consents (it owns them and their dates); the referrals service asks it when a
referral is requested and records the answer. Its internal path answers only the referrals service's token; its
decision names the consent and every reason; the referrals service unable to reach it answers 503 and records
nothing. Real PostgreSQL and Kafka."""

from __future__ import annotations

from datetime import date, timedelta

import asyncpg
import httpx
import pytest
from kim_runtime.auth import REFERRALS_SERVICE, Principal, Role, issue_token, service_token

from kim_runtime.settings import DEV_SERVICE_TOKEN_SECRET

from .support import (
    ADMIN, CASE_MANAGER, SECRET, CasesStandIn, consented_case, ensure_topics, new_org, partner, referrals_service,
    register,
)
from .with_cases import CASEWORKER, Kreis, cases_service, ok

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def referrals() -> dict[str, str]:
    """The referrals service's token, made when it is sent: a service token lives 5 minutes, and a module-level one
    had expired by the time the full suite reached this test."""
    return {"Authorization": f"Bearer {service_token(DEV_SERVICE_TOKEN_SECRET, REFERRALS_SERVICE)}"}


async def test_the_cases_service_decides_for_the_referrals_service_only(fresh_db, cases_db, kafka_bootstrap):
    await ensure_topics(kafka_bootstrap, "kim.cases", "kim.referrals")
    jc, abh = new_org("jc"), new_org("abh")
    today = date.today()
    async with cases_service(cases_db, kafka_bootstrap) as cases, \
            referrals_service(fresh_db, kafka_bootstrap, cases_transport=cases.internal) as refs:
        kreis = Kreis(cases, refs)
        _, case_id = await kreis.client_with_case("Oksana Melnyk")
        consent = await kreis.consent(case_id, [jc, abh], categories=("aufenthalt", "stammdaten"),
                                      valid_until=today + timedelta(days=400), known=False)
        path = f"/internal/cases/{case_id}/consent-decision"
        ask = {"recipient": jc, "purpose": "aufenthaltssicherung", "categories": ["aufenthalt"],
               "on": today.isoformat()}

        impostor = service_token(DEV_SERVICE_TOKEN_SECRET, "kim-reporting")  # another service
        forged = issue_token(SECRET, Principal(sub=REFERRALS_SERVICE, role=Role.SERVICE))  # under KIM_AUTH_SECRET
        for who, status in ((CASEWORKER, 403), (ADMIN, 403), (partner(jc), 403), ({}, 401),
                            ({"Authorization": f"Bearer {impostor}"}, 403), ({"Authorization": f"Bearer {forged}"}, 401)):
            assert (await cases.get(path, params=ask, headers=who)).status_code == status

        met = await ok(await cases.get(path, params=ask, headers=referrals()))
        assert met["met"] is True and met["reasons"] == []
        assert met["granted"] | {"valid_from": None} == {
            "consent_id": consent, "categories_granted": ["aufenthalt", "stammdaten"],
            "recipients_granted": sorted([jc, abh]), "purposes_granted": ["aufenthaltssicherung"],
            "valid_from": None, "valid_until": (today + timedelta(days=400)).isoformat(), "withdrawn": False}

        await ok(await cases.post(f"/cases/{case_id}/consents/{consent}/withdrawal", headers=CASEWORKER,
                                  json={"scope": "empfaenger", "recipient": jc}))
        refused = await ok(await cases.get(path, params=ask | {"categories": ["aufenthalt", "gesundheit"]},
                                           headers=referrals()))
        assert refused["met"] is False and refused["granted"]["consent_id"] == consent
        assert refused["granted"]["recipients_granted"] == [abh]  # the withdrawn recipient is granted no more
        assert refused["reasons"] == [f"consent {consent} was withdrawn for recipient {jc}",
                                      f"data category gesundheit not covered by consent {consent}"]
        late = await ok(await cases.get(path, params=ask | {"recipient": abh,
                                                              "on": (today + timedelta(days=401)).isoformat()},
                                        headers=referrals()))
        assert late["met"] is False and late["reasons"] == [
            f"consent {consent} expired on {(today + timedelta(days=400)).isoformat()}"]


class Unreachable(httpx.AsyncBaseTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("the cases service is down", request=request)


async def test_a_request_the_cases_service_cannot_decide_answers_503_and_records_nothing(fresh_db, kafka_bootstrap):
    await ensure_topics(kafka_bootstrap, "kim.cases", "kim.referrals")
    jc = new_org("jc")
    async with referrals_service(fresh_db, kafka_bootstrap, cases_transport=Unreachable()) as client, \
            CasesStandIn(kafka_bootstrap) as cases:
        await register(client, jc)
        case_id, _, _ = await consented_case(client, cases, jc, purposes=["aufenthaltssicherung"],
                                             categories=["aufenthalt"])
        r = await client.post("/referrals", headers=CASE_MANAGER, json={
            "case_id": case_id, "to_organisation_id": jc, "purpose": "aufenthaltssicherung",
            "data_categories": ["aufenthalt"]})
        assert r.status_code == 503, r.text
        assert r.headers["Retry-After"] == "10" and "cannot be reached" in r.json()["detail"]
        assert (await client.get(f"/cases/{case_id}/referrals", headers=CASE_MANAGER)).json() == []
    conn = await asyncpg.connect(fresh_db)
    try:  # no decision was given, so none is recorded (neither a ConsentChecked nor a referral)
        assert await conn.fetchval("SELECT count(*) FROM events WHERE type = 'kim.referrals.ConsentChecked'") == 0
    finally:
        await conn.close()
