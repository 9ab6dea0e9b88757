"""Both real services over Kafka: the cases service records consent and withdraws it; the referrals service gates,
refers and revokes; the outcome a partner reports shows on the case in the cases service."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from kim_cli.stack import create_database, drop_database
from kim_runtime.auth import Role
from kim_runtime.topics import partner_topic

from kim_cases.bootstrap import build_app as build_cases
from kim_cases.settings import CasesSettings

from .support import (
    AGS, SECRET, PartnerTopicReader, consent_known, ensure_topics, eventually, new_org, partner, read_to_end,
    referrals_service, register, token,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
CASEWORKER = token(Role.CASE_MANAGER, sub="cm-4711", team="stadt-luenen", municipality=AGS)
NAME = "Oleksandr Kovalenko"


@pytest.fixture
async def cases_db(stack) -> AsyncIterator[str]:
    name = f"kim_test_{uuid.uuid4().hex[:16]}"
    await create_database(stack.postgres_url, name)
    try:
        yield stack.database_url(name)
    finally:
        await drop_database(stack.postgres_url, name)


@contextlib.asynccontextmanager
async def cases_service(dsn: str, bootstrap: str) -> AsyncIterator[httpx.AsyncClient]:
    app = build_cases(CasesSettings(database_url=dsn, kafka_bootstrap=bootstrap, auth_secret=SECRET))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cases") as client:
            yield client


async def ok(response: httpx.Response, status: int = 200) -> dict:
    assert response.status_code == status, response.text
    return response.json()


async def test_consent_in_cases_gates_the_referral_and_the_outcome_returns_to_the_case(
    fresh_db, cases_db, kafka_bootstrap
):
    await ensure_topics(kafka_bootstrap, "kim.cases", "kim.referrals")
    abh = new_org("abh")
    async with cases_service(cases_db, kafka_bootstrap) as cases, referrals_service(fresh_db, kafka_bootstrap) as refs:
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
        rid = (await ok(await refs.post("/referrals", headers=CASEWORKER, json={
            "case_id": case_id, "to_organisation_id": abh, "purpose": "aufenthaltssicherung",
            "data_categories": ["aufenthalt"]}), 201))["referral_id"]
        await ok(await refs.post(f"/partner/referrals/{rid}/accept", headers=partner(abh)))
        await ok(await refs.post(f"/partner/referrals/{rid}/outcome", headers=partner(abh),
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
            await agency.wait_for(lambda m: m["key"] == rid and m["data"].get("purge") is True)
        for text in await read_to_end(kafka_bootstrap, [partner_topic(abh)]):
            assert NAME not in text and "Kovalenko" not in text and client_id not in text
