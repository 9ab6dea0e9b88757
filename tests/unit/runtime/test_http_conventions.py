"""The pure parts of the HTTP conventions: Idempotency-Key decisions, cursors, problem bodies, documented statuses."""

from __future__ import annotations

import pytest
from fastapi import Depends, FastAPI, Response
from fastapi.testclient import TestClient
from kim_runtime import idempotency as idem
from kim_runtime import problems
from kim_runtime.http import create_app, if_match
from kim_runtime.pagination import Page, decode_cursor, encode_cursor, paged
from kim_runtime.policy import POLICY, authorize


KEY = idem.fingerprint_key("a-secret-of-this-test", "cases")


def test_a_fingerprint_ignores_json_key_order_and_spacing_but_not_values_or_path():
    def fp(method, path, body):
        return idem.fingerprint(method, path, body, key=KEY)

    a = fp("POST", "/cases", b'{"a": 1, "b": [1, 2]}')
    assert a == fp("POST", "/cases", b'{"b":[1,2],"a":1}')
    assert a != fp("POST", "/cases", b'{"a": 2, "b": [1, 2]}')
    assert a != fp("POST", "/clients", b'{"a": 1, "b": [1, 2]}')
    assert fp("POST", "/x", b"not json") != fp("POST", "/x", b"not json!")


def test_a_fingerprint_is_keyed_per_secret_and_service_and_is_no_plain_hash_of_the_request():
    import hashlib

    body = b'{"name":"Anna Beispiel","date_of_birth":"1990-01-01"}'
    a = idem.fingerprint("POST", "/clients", body, key=KEY)
    assert a.startswith(idem.FINGERPRINT_PREFIX)
    assert a == idem.fingerprint("POST", "/clients", body, key=idem.fingerprint_key("a-secret-of-this-test", "cases"))
    assert a != idem.fingerprint("POST", "/clients", body, key=idem.fingerprint_key("another-secret", "cases"))
    assert a != idem.fingerprint("POST", "/clients", body, key=idem.fingerprint_key("a-secret-of-this-test", "staffing"))
    plain = hashlib.sha256(b"POST /clients\n" + body).hexdigest()  # what a dump could be searched with before
    assert plain not in a and hashlib.sha256(body).hexdigest() not in a
    # a row of the old format (plain sha256, or the one migration 012 retired it to) never matches: 422, never a 500
    assert idem.decide({"fingerprint": plain, "state": "done"}, a, now=None, lease_over=False) == "mismatch"
    assert idem.decide({"fingerprint": "retired-sha256", "state": "done"}, a, now=None, lease_over=False) == "mismatch"


def test_concerns_adds_to_the_current_claim_only():
    import uuid

    idem.concerns("nobody")  # no claim: nothing happens
    claim = idem.Claim(None, "scope", "k", uuid.uuid4())
    token = idem.CURRENT.set(claim)
    try:
        idem.concerns("client-1", None, "referral-2")
    finally:
        idem.CURRENT.reset(token)
    assert claim.subjects == {"client-1", "referral-2"}


@pytest.mark.parametrize("row,lease_over,expected", [
    (None, False, "claimed"),
    ({"fingerprint": "other", "state": "done"}, False, "mismatch"),
    ({"fingerprint": "f", "state": "done"}, False, "replay"),
    ({"fingerprint": "f", "state": "in_flight"}, False, "in_flight"),
    ({"fingerprint": "f", "state": "in_flight"}, True, "claimed"),  # its process died before any effect
    ({"fingerprint": "f", "state": "applied"}, False, "in_flight"),
    ({"fingerprint": "f", "state": "applied"}, True, "lost"),  # applied, the answer never stored: never again
    ({"fingerprint": "other", "state": "in_flight"}, False, "mismatch"),
])
def test_what_a_request_with_a_known_key_gets(row, lease_over, expected):
    assert idem.decide(row, "f", now=None, lease_over=lease_over) == expected


@pytest.mark.parametrize("status,applied,kept", [(201, False, True), (200, False, True), (422, False, False),
                                                 (409, False, False), (500, False, False), (500, True, True),
                                                 (409, True, True)])
def test_which_answers_are_kept_for_retries(status, applied, kept):
    assert idem.keep(status, applied) is kept


def test_keys_are_visible_ascii_up_to_255():
    assert idem.KEY_PATTERN.match("9f0c1a2e-2b9c-4d1f-8a5e-0c3b5a6d7e8f")
    assert not idem.KEY_PATTERN.match("") and not idem.KEY_PATTERN.match("a b")
    assert not idem.KEY_PATTERN.match("x" * 256) and not idem.KEY_PATTERN.match("ü")


def test_a_cursor_round_trips_and_a_forged_one_is_a_422_naming_the_field():
    assert decode_cursor(encode_cursor(300)) == 300
    for bad in ("nope", encode_cursor(-1), "eyJvIjogdHJ1ZX0"):  # the last: {"o": true}
        with pytest.raises(problems.Problem) as refused:
            decode_cursor(bad)
        assert refused.value.status == 422 and refused.value.extensions["errors"][0]["field"] == "query.cursor"


def _app() -> FastAPI:
    app = create_app("t", auth_secret="x" * 40)

    @app.get("/items", dependencies=[Depends(authorize("public"))])
    async def items(response: Response, page: Page = Depends(paged(default=2, maximum=5))):
        return page.answer(list(range(5)), response)

    @app.post("/things/{thing_id}/approve", dependencies=[Depends(authorize("report.approve"))])
    async def approve(thing_id: str, expected: int = Depends(if_match(required=True))):
        return {"expected": expected}

    return app


def test_pages_follow_the_link_header_to_the_end():
    with TestClient(_app()) as client:
        seen, url = [], "/items?limit=2"
        while url:
            r = client.get(url)
            seen += r.json()
            url = r.links.get("next", {}).get("url")
        assert seen == [0, 1, 2, 3, 4]
        over = client.get("/items?limit=6")
        assert over.status_code == 422 and over.headers["content-type"] == "application/problem+json"
        assert over.json()["errors"][0]["field"] == "query.limit"


def test_problem_bodies_and_the_statuses_each_operation_documents():
    with TestClient(_app()) as client:
        r = client.post("/things/t-1/approve")
        assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
        assert set(r.json()) >= {"type", "title", "status", "detail", "instance"} and r.json()["status"] == 401
        assert r.json()["instance"] == "/things/t-1/approve"
        document = client.get("/openapi.json").json()
    approve = document["paths"]["/things/{thing_id}/approve"]["post"]["responses"]
    assert {"401", "403", "404", "409", "412", "413", "422", "428", "500", "503"} <= set(approve)
    assert approve["422"]["content"]["application/problem+json"]["schema"]["$ref"].endswith("ValidationProblem")
    items = document["paths"]["/items"]["get"]["responses"]
    assert "401" not in items and "422" in items and "409" not in items  # public, a read
    assert "HTTPValidationError" not in document["components"]["schemas"]
    params = {p["name"] for p in document["paths"]["/things/{thing_id}/approve"]["post"]["parameters"]}
    assert {"If-Match", "Idempotency-Key"} <= params


def test_the_documented_statuses_follow_the_rule_and_the_shape():
    read = {"parameters": [{"in": "path", "name": "case_id"}]}
    assert problems.statuses("GET", read, POLICY["case.read"]) == [401, 403, 404, 422, 500, 503]
    write = {"parameters": [{"in": "header", "name": "if-match"}]}
    assert problems.statuses("POST", write, POLICY["staffing.plan"]) == [401, 403, 409, 412, 413, 422, 500, 503]
    assert 428 in problems.statuses("POST", write, POLICY["report.approve"], if_match_required=True)
    assert problems.statuses("GET", {}, POLICY["public"]) == [422, 500]


class _CountingVerifier:
    def __init__(self):
        self.calls = 0

    async def verify(self, token: str):
        from kim_runtime.auth import Principal, Role

        self.calls += 1
        return Principal(sub=f"user-{token}", role=Role.CASE_MANAGER)


class _ClaimEverything:
    def fingerprint(self, method, path, body):
        return "f"

    async def claim(self, scope, key, fingerprint_):
        import uuid

        from kim_runtime.idempotency import Decision

        return Decision("claimed", uuid.uuid4())

    async def complete(self, claim, status, headers, body):
        self.completed = status

    async def release(self, claim):
        pass


def test_a_command_with_an_idempotency_key_verifies_its_token_once_and_the_route_sees_that_principal():
    from fastapi import Depends, FastAPI

    from kim_runtime.auth import current_principal
    from kim_runtime.idempotency import Idempotent

    app = FastAPI()
    app.state.token_verifier, app.state.idempotency = _CountingVerifier(), _ClaimEverything()

    @app.post("/things")
    async def make(principal=Depends(current_principal)) -> dict:
        return {"sub": principal.sub}

    app.add_middleware(Idempotent)
    with TestClient(app) as client:
        answer = client.post("/things", json={}, headers={"Authorization": "Bearer a", "Idempotency-Key": "k-1"})
        assert answer.status_code == 200 and answer.json() == {"sub": "user-a"}
        assert app.state.token_verifier.calls == 1  # the middleware's; the route took its principal
        assert app.state.idempotency.completed == 200
        answer = client.post("/things", json={}, headers={"Authorization": "Bearer b"})  # no key: the route's own
        assert answer.json() == {"sub": "user-b"} and app.state.token_verifier.calls == 2


def test_a_principal_verified_for_one_token_is_never_taken_for_another():
    from starlette.requests import Request

    from kim_runtime.auth import Principal, Role, _verified_before, remember_verified

    scope = {"type": "http", "headers": []}
    remember_verified(scope, "token-a", Principal(sub="a", role=Role.ADMIN))
    assert _verified_before(Request(scope), "token-a").sub == "a"
    assert _verified_before(Request(scope), "token-b") is None
