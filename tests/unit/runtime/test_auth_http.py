"""Tokens, roles and the shared HTTP conventions, through FastAPI's test client (no I/O)."""

from __future__ import annotations

import time

import pytest
from fastapi import Depends
from fastapi.testclient import TestClient
from pydantic import BaseModel

from kim_runtime.auth import Principal, Role, issue_token
from kim_runtime.errors import ConcurrencyConflict, NotFound
from kim_runtime.http import NOT_FOUND_FLOOR_S, create_app, parse_if_match
from kim_runtime.policy import authorize

SECRET = "unit-test-secret-of-at-least-32-bytes!"


class Body(BaseModel):
    age: int


def make_client() -> TestClient:
    app = create_app("t", auth_secret=SECRET)

    @app.post("/things")
    async def create(body: Body, who: Principal = Depends(authorize("staffing.plan"))):
        return {"by": who.sub, "age": body.age}

    @app.get("/conflict")
    async def conflict():
        raise ConcurrencyConflict("case-1", 2, 3)

    @app.get("/missing")
    async def missing():
        raise NotFound("case case-9 does not exist")

    return TestClient(app)


def token(role: Role, **kw) -> dict:
    return {"Authorization": f"Bearer {issue_token(SECRET, Principal(sub='u1', role=role, **kw))}"}


def test_no_token_is_401_with_a_bearer_challenge():
    r = make_client().post("/things", json={"age": 3})
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")


def test_forged_or_expired_tokens_are_401():
    client = make_client()
    forged = issue_token("another-secret-of-at-least-32-bytes", Principal(sub="u1", role=Role.ADMIN))
    assert client.post("/things", json={"age": 3}, headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    expired = issue_token(SECRET, Principal(sub="u1", role=Role.ADMIN), ttl_seconds=-10)
    r = client.post("/things", json={"age": 3}, headers={"Authorization": f"Bearer {expired}"})
    assert r.status_code == 401 and "expired" in r.json()["detail"]


def test_wrong_role_is_403_and_names_the_roles_needed():
    r = make_client().post("/things", json={"age": 3}, headers=token(Role.CASE_MANAGER))
    assert r.status_code == 403
    assert "team_lead" in r.json()["detail"]


def test_right_role_passes():
    r = make_client().post("/things", json={"age": 3}, headers=token(Role.ADMIN))
    assert r.status_code == 200 and r.json() == {"by": "u1", "age": 3}


def test_bad_input_is_422_naming_the_field():
    r = make_client().post("/things", json={"age": "old"}, headers=token(Role.ADMIN))
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "age"


def test_domain_errors_map_to_409_and_404():
    client = make_client()
    r = client.get("/conflict")
    assert r.status_code == 409 and r.json()["current_version"] == 3
    assert client.get("/missing").status_code == 404


def test_partner_tokens_must_name_their_organisation():
    with pytest.raises(ValueError):
        issue_token(SECRET, Principal(sub="p", role=Role.PARTNER))


@pytest.mark.parametrize(("value", "version"), [('"3"', 3), ('W/"12"', 12), ("7", 7), (None, None)])
def test_if_match_parsing(value, version):
    assert parse_if_match(value) == version


def test_health_and_metrics_need_no_token():
    client = make_client()
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/metrics").status_code == 200
    assert client.get("/readyz").json()["ready"] is True


def test_every_404_leaves_no_sooner_than_the_floor_and_other_answers_are_not_held():
    """A resource out of reach takes longer to find out than one that does not exist; the floor hides the
    difference (kim_runtime.http.NOT_FOUND_FLOOR_S)."""
    client = make_client()
    client.get("/missing")  # warm up

    def took(path: str, **kw) -> tuple[int, float]:
        started = time.monotonic()
        status = client.get(path, **kw).status_code
        return status, time.monotonic() - started

    for path in ("/missing", "/no-such-route"):
        status, seconds = took(path)
        assert status == 404 and seconds >= NOT_FOUND_FLOOR_S, (path, seconds)
    status, seconds = took("/conflict")
    assert status == 409
    print(f"\n404 after {took('/missing')[1] * 1000:.1f} ms, 409 after {seconds * 1000:.1f} ms "
          f"(floor {NOT_FOUND_FLOOR_S * 1000:.0f} ms)")
