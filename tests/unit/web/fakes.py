"""In-memory stand-ins for the four services (unit tier only): canned answers by method and path, every request
recorded, so a test can see what reached the services."""

from __future__ import annotations

import base64
import json
import time

import httpx
from fastapi.testclient import TestClient

from kim_web.entrypoints.app import create_app
from kim_web.settings import WebSettings

URLS = {"cases_url": "http://cases", "staffing_url": "http://staffing", "referrals_url": "http://referrals",
        "reporting_url": "http://reporting"}
CASE = {"case_id": "case-1", "version": 3, "phase": "consent", "paused": None, "municipality": "05978036",
        "team": "stadt", "team_organisation_id": "stadt-unna", "case_manager_id": "cm-1", "access_channel": "jobcenter",
        "opened_on": "2025-03-01", "client": {"client_id": "client-1", "name": "Amal Nasser", "date_of_birth": None,
                                              "address": None, "contact": None},
        "consents": [{"consent_id": "k-1", "status": "active", "recipients": ["jc"], "purposes": ["leistungsklaerung"],
                      "data_categories": ["stammdaten"], "granted_on": "2025-03-02", "valid_until": None,
                      "form": "schriftlich", "informed_in": "ar", "recorded_by": "cm-1", "withdrawn_at": None}],
        "assessment": None, "rechtskreis": None, "residence_history": [], "plans": [], "goals": [], "milestones": [],
        "reviews": [], "closure": None, "referrals": []}


def token(role: str, **claims) -> str:
    def part(obj) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    body = {"sub": f"{role}-1", "role": role, "exp": int(time.time()) + 3600, "iss": "kim-hub"} | claims
    return f"{part({'alg': 'HS256'})}.{part(body)}.c2lnbmF0dXJl"


class FakeServices:
    def __init__(self):
        self.calls: list[httpx.Request] = []
        self.answers: dict[tuple[str, str], httpx.Response] = {}
        self.defaults()

    def defaults(self) -> None:
        self.on("GET", "http://cases/cases", 200, [])
        self.on("GET", "http://cases/cases/case-1", 200, CASE, headers={"ETag": '"3"'})
        self.on("GET", "http://cases/cases/case-1/history", 200, [])
        self.on("GET", "http://referrals/partners", 200, [{"organisation_id": "jc", "name": "Jobcenter"}])
        self.on("GET", "http://referrals/cases/case-1/referrals", 200, [])
        self.on("GET", "http://referrals/cases/case-1/consents", 200, [])
        self.on("GET", "http://referrals/partner/referrals", 200, [])

    def on(self, method: str, url: str, status: int, body=None, headers=None) -> None:
        self.answers[(method, url)] = httpx.Response(status, json=body, headers=headers)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        url = str(request.url).split("?")[0]
        answer = self.answers.get((request.method, url))
        return answer if answer is not None else httpx.Response(404, json={"detail": f"no fake for {url}"})

    def posts(self) -> list[httpx.Request]:
        return [c for c in self.calls if c.method == "POST"]


def client(fakes: FakeServices, **settings) -> TestClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(fakes.handle))
    app = create_app(WebSettings(**URLS, **settings), client=http)
    return TestClient(app, base_url="http://web", follow_redirects=False)


def sign_in(web: TestClient, role: str, **claims) -> str:
    tok = token(role, **claims)
    web.cookies.set("kim_session", tok)
    web.cookies.set("kim_csrf", "csrf-1")
    return tok
