"""The cases service in-process (its real lifespan: migrations, relay, consumers) on the real stack."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from kim_runtime.auth import Principal, Role, issue_token

from kim_cases.bootstrap import build_app
from kim_cases.settings import CasesSettings

SECRET = "cases-integration-test-secret-0123456789"
LUENEN, UNNA = "05978024", "05978036"


def token(role: Role = Role.CASE_MANAGER, *, sub: str = "staff-1", team: str | None = "stadt-luenen",
          municipality: str | None = LUENEN, organisation: str | None = None) -> dict[str, str]:
    principal = Principal(sub=sub, role=role, team=team, municipality=municipality, organisation=organisation)
    return {"Authorization": f"Bearer {issue_token(SECRET, principal)}"}


MANAGER = token()
TEAM_LEAD = token(Role.TEAM_LEAD, sub="lead-1")
AUDITOR = token(Role.AUDITOR, sub="audit-1", team=None, municipality=None)
ADMIN = token(Role.ADMIN, sub="admin-1", team=None, municipality=None)
OTHER_MANAGER = token(sub="staff-9", team="stadt-unna", municipality=UNNA)


class Api:
    def __init__(self, http: httpx.AsyncClient, app):
        self.http, self.app = http, app

    async def call(self, method: str, url: str, *, expect: int | None = None, headers=None, **kw) -> httpx.Response:
        r = await self.http.request(method, url, headers=MANAGER if headers is None else headers, **kw)
        if expect is not None:
            assert r.status_code == expect, f"{method} {url} -> {r.status_code}: {r.text}"
        return r

    async def post(self, url: str, json: dict | None = None, expect: int | None = 200, **kw) -> dict:
        return (await self.call("POST", url, json=json or {}, expect=expect, **kw)).json()

    async def get(self, url: str, expect: int | None = 200, **kw) -> dict | list:
        return (await self.call("GET", url, expect=expect, **kw)).json()

    async def client(self, name: str = "Amina Haddad", **over) -> str:
        body = {"name": name, "date_of_birth": "1990-04-02", "address": "Kurt-Schumacher-Str. 4, 44532 Lünen",
                "contact": "+49 2306 555 0101", "languages": ["ar", "de"], "arrival_year": 2016} | over
        return (await self.post("/clients", body, expect=201))["client_id"]

    async def case(self, client_id: str, **over) -> str:
        body = {"client_id": client_id, "municipality": LUENEN, "team": "stadt",
                "team_organisation_id": "stadt-luenen", "access_channel": "jobcenter", "opened_on": "2025-01-10"}
        return (await self.post("/cases", body | over, expect=201))["case_id"]

    async def consent(self, case_id: str, **over) -> str:
        body = {"recipients": ["abh-unna"], "purposes": ["aufenthaltssicherung"], "data_categories": ["aufenthalt"],
                "form": "schriftlich", "informed_in": "ar", "granted_on": "2025-01-10"}
        return (await self.post(f"/cases/{case_id}/consents", body | over, expect=201))["consent_id"]

    async def case_with_notes(self, client_id: str, notes: str) -> str:
        """A case with consent, assessment, plan and a review whose notes are encrypted with the client's key."""
        case_id = await self.case(client_id)
        await self.consent(case_id)
        await self.post(f"/cases/{case_id}/assessment", {"assessed_on": "2025-01-12", "rechtskreis": "SGB_II",
                                                         "domains": [{"domain": "familie", "need": "hoch",
                                                                      "resources": "mittel"}]})
        await self.post(f"/cases/{case_id}/plan", {"agreed_on": "2025-01-15", "goals": [
            {"goal_id": "g1", "domain": "familie", "target_date": "2025-12-01",
             "responsible_organisation_id": "awo"}]}, expect=201)
        await self.post(f"/cases/{case_id}/reviews", {"held_on": "2025-03-01", "notes": notes}, expect=201)
        return case_id


@pytest.fixture
async def api(fresh_db: str, kafka_bootstrap: str) -> AsyncIterator[Api]:
    settings = CasesSettings(database_url=fresh_db, kafka_bootstrap=kafka_bootstrap, auth_secret=SECRET)
    app = build_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://cases") as http:
            yield Api(http, app)
