"""The real cases service in-process beside the referrals service, and the Kreis's staff acting on both over HTTP."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import date

import httpx
from kim_runtime.auth import Role

from kim_cases.bootstrap import build_app as build_cases
from kim_cases.settings import CasesSettings

from .support import AGS, SECRET, consent_known, token

CASEWORKER = token(Role.CASE_MANAGER, sub="cm-4711", team="stadt-luenen", municipality=AGS)
TEAM_LEAD = token(Role.TEAM_LEAD, sub="tl-0815", team="stadt-luenen", municipality=AGS)


@contextlib.asynccontextmanager
async def cases_service(dsn: str, bootstrap: str, *, clock=None) -> AsyncIterator[httpx.AsyncClient]:
    """The cases service in-process; with `clock` (kim_runtime.scheduler.ManualClock) its deadlines follow that.
    Its `.internal` transport is what the referrals service reaches it through (consent decisions, /person)."""
    app = build_cases(CasesSettings(database_url=dsn, kafka_bootstrap=bootstrap, auth_secret=SECRET))
    if clock is not None:
        app.state.runtime.clock = clock
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cases") as client:
            client.internal = httpx.ASGITransport(app=app)  # for referrals_service(cases_transport=...)
            yield client


async def ok(response: httpx.Response, status: int = 200) -> dict:
    assert response.status_code == status, response.text
    return response.json()


class Kreis:
    """A case manager of stadt-luenen working with the real cases service and the referrals service."""

    def __init__(self, cases: httpx.AsyncClient, referrals: httpx.AsyncClient):
        self.cases, self.referrals = cases, referrals

    async def client_with_case(self, name: str) -> tuple[str, str]:
        client_id = (await ok(await self.cases.post("/clients", headers=CASEWORKER, json={
            "name": name, "date_of_birth": "1988-11-03", "address": "Marktstr. 1, 44532 Lünen",
            "languages": ["uk"], "arrival_year": 2022}), 201))["client_id"]
        case_id = (await ok(await self.cases.post("/cases", headers=CASEWORKER, json={
            "client_id": client_id, "municipality": AGS, "team": "stadt", "team_organisation_id": "stadt-luenen",
            "access_channel": "selbstmeldung", "opened_on": "2025-01-10"}), 201))["case_id"]
        return client_id, case_id

    async def consent(self, case_id: str, recipients: list[str], *, granted_on: date = date(2025, 1, 10),
                      categories: tuple[str, ...] = ("aufenthalt",), known: bool = True,
                      valid_until: date | None = None) -> str:
        consent_id = (await ok(await self.cases.post(f"/cases/{case_id}/consents", headers=CASEWORKER, json={
            "recipients": recipients, "purposes": ["aufenthaltssicherung"], "data_categories": list(categories),
            "form": "schriftlich", "informed_in": "uk", "granted_on": granted_on.isoformat(),
            "valid_until": valid_until and valid_until.isoformat()}), 201))["consent_id"]
        if known:
            await consent_known(self.referrals, case_id, consent_id)
        return consent_id

    async def refer(self, case_id: str, org: str, *, correlation_id: str | None = None) -> httpx.Response:
        headers = CASEWORKER | ({"X-Correlation-ID": correlation_id} if correlation_id else {})
        return await self.referrals.post("/referrals", headers=headers, json={
            "case_id": case_id, "to_organisation_id": org, "purpose": "aufenthaltssicherung",
            "data_categories": ["aufenthalt"]})
