"""A partner reads the personal data its consent shares (GET /partner/referrals/{id}/person): exactly the granted
categories, decrypted by the cases service on request through its internal path (service token), recorded in the
client's access log with the partner as reader; refused with the reason after withdrawal and after erasure; never
for another partner's referral. Both real services, real Kafka and PostgreSQL."""

from __future__ import annotations

import contextlib

import httpx
import pytest
from kim_runtime.auth import REFERRALS_SERVICE, Principal, Role, issue_token, service_token
from kim_runtime.settings import DEV_SERVICE_TOKEN_SECRET

from kim_cases.bootstrap import build_app as build_cases
from kim_cases.settings import CasesSettings

from .support import ADMIN, SECRET, ensure_topics, eventually, new_org, partner, referrals_service, register
from .with_cases import CASEWORKER, TEAM_LEAD, Kreis, ok
from tests.bodies import ERASURE

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


@contextlib.asynccontextmanager
async def cases_and_referrals(cases_db: str, referrals_db: str, bootstrap: str):
    """The cases service in-process, and the referrals service reaching its internal path over ASGI."""
    app = build_cases(CasesSettings(database_url=cases_db, kafka_bootstrap=bootstrap, auth_secret=SECRET))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cases") as cases:
            async with referrals_service(referrals_db, bootstrap, cases_transport=httpx.ASGITransport(app=app)) as refs:
                yield cases, refs


async def test_a_partner_reads_exactly_the_consented_person_data_once_recorded_and_refused_after_revocation(
        fresh_db, cases_db, kafka_bootstrap):
    await ensure_topics(kafka_bootstrap, "kim.cases", "kim.referrals")
    jc, other, names_only = new_org("jc"), new_org("mbe"), new_org("abh")
    async with cases_and_referrals(cases_db, fresh_db, kafka_bootstrap) as (cases, refs):
        kreis = Kreis(cases, refs)
        for org in (jc, other, names_only):
            await register(refs, org)
        client_id, case_id = await kreis.client_with_case("Oksana Melnyk")
        both = ("stammdaten", "kontaktdaten", "aufenthalt", "sprache_bildung")
        consent_jc = await kreis.consent(case_id, [jc, other], categories=both)
        consent_abh = await kreis.consent(case_id, [names_only], categories=("stammdaten",))
        made = {}
        for org, consent, cats in ((jc, consent_jc, list(both)), (other, consent_jc, ["aufenthalt"]),
                                   (names_only, consent_abh, ["stammdaten"])):
            made[org] = (await ok(await refs.post("/referrals", headers=CASEWORKER, json={
                "case_id": case_id, "to_organisation_id": org, "purpose": "aufenthaltssicherung",
                "data_categories": cats, "consent_id": consent}), 201))["partner_referral_id"]

        mine = f"/partner/referrals/{made[jc]}/person"
        got = await ok(await refs.get(mine, headers=partner(jc)))
        assert got == {"referral_id": made[jc], "categories": ["kontaktdaten", "sprache_bildung", "stammdaten"],
                       "person": {"name": "Oksana Melnyk", "date_of_birth": "1988-11-03",
                                  "address": "Marktstr. 1, 44532 Lünen", "contact": None, "languages": ["uk"]}}
        only_names = await ok(await refs.get(f"/partner/referrals/{made[names_only]}/person",
                                             headers=partner(names_only)))
        assert only_names["person"] == {"name": "Oksana Melnyk", "date_of_birth": "1988-11-03"}  # no address
        none_shared = await ok(await refs.get(f"/partner/referrals/{made[other]}/person", headers=partner(other)))
        assert none_shared == {"referral_id": made[other], "categories": [], "person": {}}
        # another partner's referral answers like one that does not exist
        assert (await refs.get(mine, headers=partner(other))).status_code == 404
        assert (await refs.get(mine, headers=partner(names_only))).status_code == 404

        # the internal path: the referrals service's token only
        internal = f"/internal/cases/{case_id}/consented-person"
        params = {"consent_id": consent_jc, "recipient": jc, "purpose": "aufenthaltssicherung",
                  "categories": ["stammdaten"], "reference": made[jc]}
        for who, status in ((CASEWORKER, 403), (ADMIN, 403), (partner(jc), 403), ({}, 401)):
            assert (await cases.get(internal, params=params, headers=who)).status_code == status
        # a service token signed with KIM_AUTH_SECRET (what whoever onboards partners holds) is no token at all
        forged = issue_token(SECRET, Principal(sub=REFERRALS_SERVICE, role=Role.SERVICE))
        assert (await cases.get(internal, params=params,
                                headers={"Authorization": f"Bearer {forged}"})).status_code == 401
        impostor = service_token(DEV_SERVICE_TOKEN_SECRET, "kim-reporting")  # another service: not this path
        assert (await cases.get(internal, params=params,
                                headers={"Authorization": f"Bearer {impostor}"})).status_code == 403
        assert (await cases.get(internal, params=params, headers={
            "Authorization": f"Bearer {service_token(DEV_SERVICE_TOKEN_SECRET, REFERRALS_SERVICE)}"}
        )).status_code == 200

        reads = await ok(await cases.get(f"/clients/{client_id}/reads", headers=ADMIN))
        by_partner = [r for r in reads if r["actor"] == f"partner:{jc}"]
        assert len(by_partner) == 2  # the partner's read, and the direct call above
        assert by_partner[0]["role"] == "partner" and made[jc] in by_partner[0]["via"]
        assert by_partner[0]["fields"] == ["address", "contact", "date_of_birth", "languages", "name"]
        assert [r["fields"] for r in reads if r["actor"] == f"partner:{names_only}"] == [["date_of_birth", "name"]]

        # declined by the partner: no longer shared (410 with the reason), the snapshot stays readable
        await ok(await refs.post(f"/partner/referrals/{made[other]}/decline", headers=partner(other),
                                 json={"reason": "keine_kapazitaet"}))
        declined = await refs.get(f"/partner/referrals/{made[other]}/person", headers=partner(other))
        assert declined.status_code == 410 and declined.json()["reason"] == "abgelehnt", declined.text
        assert (await ok(await refs.get(f"/partner/referrals/{made[other]}", headers=partner(other))))["state"] == \
            "declined"

        # withdrawn for jc: the referral is revoked, the person data refused with the reason
        await ok(await cases.post(f"/cases/{case_id}/consents/{consent_jc}/withdrawal", headers=CASEWORKER,
                                  json={"scope": "empfaenger", "recipient": jc}))

        async def refused():
            r = await refs.get(mine, headers=partner(jc))
            return r if r.status_code == 410 else None
        gone = await eventually(refused)
        assert gone.json()["reason"] == "einwilligung_widerrufen" and "Oksana" not in gone.text
        assert gone.headers["content-type"] == "application/problem+json"

        # erased: refused with loeschung
        await ok(await cases.post(f"/clients/{client_id}/erasure", headers=TEAM_LEAD, json=ERASURE))

        async def erased():
            r = await refs.get(f"/partner/referrals/{made[names_only]}/person", headers=partner(names_only))
            return r if r.status_code == 410 else None
        assert (await eventually(erased)).json()["reason"] == "loeschung"
