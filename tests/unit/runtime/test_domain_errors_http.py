"""Every domain error (kim_runtime.errors, and a service's subclass of one) is answered by the one handler in
kim_runtime.http: the status, problem type, title, members and headers its class names."""

from __future__ import annotations

import pytest
from fastapi import APIRouter, Depends
from fastapi.testclient import TestClient
from kim_runtime.errors import (
    ConcurrencyConflict, Gone, KimError, NotFound, NotInScope, NotRecorded, RuleViolation, Unavailable,
)
from kim_runtime.http import create_app
from kim_runtime.policy import authorize


class ServiceRule(RuleViolation):
    slug, title = "service-rule", "A service's own rule"

    def extensions(self) -> dict:
        return {"missing": ["a", "b"]}


RAISED = {
    "rule": RuleViolation("the case is closed"),
    "conflict": ConcurrencyConflict("case-1", 2, 3),
    "missing": NotFound("no case case-1"),
    "scope": NotInScope("case case-1 is outside your scope"),
    "gone": Gone("revoked", reason="widerruf", referral_id="r-1"),
    "unrecorded": NotRecorded("the decision could not be recorded"),
    "down": Unavailable("the cases service cannot be reached", retry_after_s=10),
    "refused": Unavailable("the cases service refused the read (500)", status=502),
    "own": ServiceRule("no consent covers it"),
}


def raising(error: KimError):
    async def raise_it():
        raise error
    return raise_it


@pytest.fixture(scope="module")
def client():
    app = create_app("errors", auth_secret="x" * 32)
    router = APIRouter()
    for name, error in RAISED.items():
        router.add_api_route(f"/raise/{name}", raising(error), methods=["POST"], dependencies=[Depends(authorize("public"))])
    app.include_router(router)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.mark.parametrize(("name", "status", "type_", "members", "headers"), [
    ("rule", 409, "urn:kim:problem:conflict", {}, {}),
    ("conflict", 409, "urn:kim:problem:conflict", {"stream_id": "case-1", "current_version": 3}, {}),
    ("missing", 404, "urn:kim:problem:not-found", {}, {}),
    ("scope", 403, "urn:kim:problem:forbidden", {}, {}),
    ("gone", 410, "urn:kim:problem:gone-widerruf", {"reason": "widerruf", "referral_id": "r-1"}, {}),
    ("unrecorded", 503, "urn:kim:problem:unavailable", {}, {"retry-after": "2"}),
    ("down", 503, "urn:kim:problem:unavailable", {}, {"retry-after": "10"}),
    ("refused", 502, "about:blank", {}, {}),
    ("own", 409, "urn:kim:problem:service-rule", {"missing": ["a", "b"]}, {}),
])
def test_each_domain_error_is_one_problem_answer(client, name, status, type_, members, headers):
    r = client.post(f"/raise/{name}")
    body = r.json()
    assert (r.status_code, body["type"], body["status"], body["detail"]) == (status, type_, status, str(RAISED[name]))
    assert r.headers["content-type"] == "application/problem+json"
    assert {k: body[k] for k in members} == members
    assert {k: r.headers.get(k) for k in headers} == headers
    assert "retry-after" in r.headers or not headers


def test_a_conflict_with_if_match_is_a_failed_precondition(client):
    r = client.post("/raise/conflict", headers={"If-Match": '"2"'})
    assert (r.status_code, r.json()["type"], r.json()["current_version"]) == (412, "urn:kim:problem:stale-precondition", 3)


def test_the_titles_come_from_the_class_or_the_status(client):
    assert client.post("/raise/own").json()["title"] == "A service's own rule"
    assert client.post("/raise/gone").json()["title"] == "Gone"
    assert client.post("/raise/scope").json()["title"] == "Your role may not do this"
