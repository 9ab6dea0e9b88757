"""The four services in-process (their real lifespans: migrations, relays, consumers) on the real Kafka and
PostgreSQL, a token per role, and an own and a foreign one of each kind of resource.

Own: team stadt-luenen in Lünen, whose case manager and team lead hold the role tokens, and partner organisation A,
whose clerk holds the partner token. Foreign: team stadt-unna in Unna, and partner organisation B.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
from kim_cli.stack import create_database, drop_database
from kim_runtime.auth import Principal, Role, issue_token

from kim_cases.bootstrap import build_app as build_cases
from kim_cases.settings import CasesSettings
from kim_referrals.bootstrap import build_app as build_referrals
from kim_referrals.settings import ReferralSettings
from kim_staffing.bootstrap import build_app as build_staffing
from kim_staffing.settings import StaffingSettings
from tests.integration.reporting.conftest import SECRET, running_service
from tests.integration.staffing.conftest import skip_history
from tests.polling import eventually

LUENEN, UNNA = "05978024", "05978036"
OWN_PLACE = {"municipality": LUENEN, "team": "stadt", "team_organisation_id": "stadt-luenen"}
FOREIGN_PLACE = {"municipality": UNNA, "team": "stadt", "team_organisation_id": "stadt-unna"}


def bearer(principal: Principal) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(SECRET, principal)}"}


def staff(role: Role, sub: str, place: dict) -> dict[str, str]:
    return bearer(Principal(sub=sub, role=role, team=place["team_organisation_id"],
                            municipality=place["municipality"]))


def partner_token(org: str) -> dict[str, str]:
    return bearer(Principal(sub=f"clerk-{org}", role=Role.PARTNER, organisation=org))


ADMIN = bearer(Principal(sub="admin-1", role=Role.ADMIN))
OWN_MANAGER = staff(Role.CASE_MANAGER, "cm-luenen", OWN_PLACE)
FOREIGN_MANAGER = staff(Role.CASE_MANAGER, "cm-unna", FOREIGN_PLACE)


@dataclass
class Services:
    cases: httpx.AsyncClient
    staffing: httpx.AsyncClient
    referrals: httpx.AsyncClient
    reporting: httpx.AsyncClient
    apps: dict = field(default_factory=dict)


async def ok(response: httpx.Response, status: int = 200) -> dict:
    assert response.status_code == status, f"{response.request.method} {response.request.url}: {response.text}"
    return response.json()


@contextlib.asynccontextmanager
async def databases(stack, n: int) -> AsyncIterator[list[str]]:
    names = [f"kim_test_{uuid.uuid4().hex[:16]}" for _ in range(n)]
    for name in names:
        await create_database(stack.postgres_url, name)
    try:
        yield [stack.database_url(name) for name in names]
    finally:
        for name in names:
            await drop_database(stack.postgres_url, name)


@contextlib.asynccontextmanager
async def served(app, name: str) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{name}") as client:
            yield client


@contextlib.asynccontextmanager
async def four_services(stack, bootstrap: str) -> AsyncIterator[Services]:
    prefix = f"kim-authz-{uuid.uuid4().hex[:8]}"  # consumer groups of their own
    common = {"kafka_bootstrap": bootstrap, "auth_secret": SECRET, "consumer_group_prefix": prefix}
    async with databases(stack, 4) as (cases_db, staffing_db, referrals_db, reporting_db):
        apps = {"cases": build_cases(CasesSettings(database_url=cases_db, **common)),
                "staffing": build_staffing(StaffingSettings(database_url=staffing_db, **common)),
                "referrals": build_referrals(ReferralSettings(database_url=referrals_db,
                                                              pseudonym_secret="authz-pseudonyms", **common))}
        apps["referrals"].state.cases.transport = httpx.ASGITransport(app=apps["cases"])  # consent decisions
        for app in apps.values():  # only this test's events: a list shows what this test made, nothing older
            runtime = app.state.runtime
            for handler in runtime.handlers:
                await skip_history(bootstrap, runtime.consumers.group_id(handler), tuple(handler.topics))
        async with (served(apps["cases"], "cases") as cases, served(apps["staffing"], "staffing") as staffing,
                    served(apps["referrals"], "referrals") as referrals,
                    running_service(reporting_db, bootstrap) as reporting):
            apps["reporting"] = reporting.app
            yield Services(cases, staffing, referrals, reporting.client, apps)


@pytest.fixture(scope="module")
async def services(stack) -> AsyncIterator[Services]:
    async with four_services(stack, stack.kafka_bootstrap) as running:
        yield running


class Kreis:
    """Acts on the services as the people of the own and the foreign place."""

    def __init__(self, s: Services):
        self.s = s

    async def client_with_case(self, headers: dict, place: dict, name: str) -> tuple[str, str]:
        client_id = (await ok(await self.s.cases.post("/clients", headers=headers, json={
            "name": name, "date_of_birth": "1990-04-02", "address": "Marktstr. 1", "contact": "+49 2306 1"}),
            201))["client_id"]
        case_id = (await ok(await self.s.cases.post("/cases", headers=headers, json={
            "client_id": client_id, "access_channel": "selbstmeldung", "opened_on": "2025-01-10", **place}),
            201))["case_id"]
        return client_id, case_id

    async def consent(self, headers: dict, case_id: str, org: str) -> str:
        return (await ok(await self.s.cases.post(f"/cases/{case_id}/consents", headers=headers, json={
            "recipients": [org], "purposes": ["aufenthaltssicherung"], "data_categories": ["aufenthalt"],
            "form": "schriftlich", "informed_in": "de", "granted_on": "2025-01-10"}), 201))["consent_id"]

    async def known_downstream(self, case_id: str, consent_id: str) -> None:
        """Staffing, the referrals service's consent gate and the case list have seen the case (from kim.cases)."""
        async def seen():
            gate = await self.s.referrals.get(f"/cases/{case_id}/consents", headers=ADMIN)
            staffing = await self.s.staffing.get(f"/cases/{case_id}", headers=ADMIN)
            listed = await self.s.cases.get("/cases", headers=ADMIN, params={"limit": 1000})
            return (gate.status_code == 200 and any(c["consent_id"] == consent_id for c in gate.json())
                    and staffing.status_code == 200 and any(c["case_id"] == case_id for c in listed.json()))
        await eventually(seen, timeout=60)

    async def refer(self, headers: dict, case_id: str, org: str) -> str:
        return (await ok(await self.s.referrals.post("/referrals", headers=headers, json={
            "case_id": case_id, "to_organisation_id": org, "purpose": "aufenthaltssicherung",
            "data_categories": ["aufenthalt"]}), 201))["referral_id"]

    async def register_partner(self, org: str) -> None:
        await ok(await self.s.referrals.post("/partners", headers=ADMIN, json={
            "organisation_id": org, "name": f"Partner {org}", "kind": "jobcenter", "public_body": True}), 201)

    async def partner_id(self, org: str) -> str:
        async def listed():
            return (await ok(await self.s.referrals.get("/partner/referrals", headers=partner_token(org))))
        return (await eventually(listed))[0]["referral_id"]
