"""The runtime's safety net (create_app): NUL bytes, invalid UTF-8, odd ids and database DataErrors answer 422."""

from __future__ import annotations

import json

import asyncpg
import pytest
from fastapi import Request
from fastapi.testclient import TestClient
from kim_runtime.clean_input import MAX_BODY
from kim_runtime.http import create_app
from pydantic import BaseModel


class Thing(BaseModel):
    date_of_birth: int


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = create_app("test", auth_secret="x" * 32)
    seen = []

    @app.post("/things/{thing_id}")
    async def post(thing_id: str, request: Request):
        seen.append(await request.json())
        return {"thing_id": thing_id, "body": seen[-1]}

    @app.get("/things")
    async def things(municipality: str | None = None, q: str | None = None):
        return {"municipality": municipality, "q": q}

    @app.get("/database-refuses")
    async def database_refuses():
        raise asyncpg.exceptions.UntranslatableCharacterError("unsupported Unicode escape sequence")

    @app.get("/event-refuses")
    async def event_refuses():
        Thing(date_of_birth="x")

    return TestClient(app, raise_server_exceptions=False)


def _fields(r) -> list[str]:
    assert r.status_code == 422, r.text
    return [e["field"] for e in r.json()["errors"]]


def _post(client, body: bytes, **headers):
    return client.post("/things/t-1", content=body, headers={"content-type": "application/json"} | headers)


@pytest.mark.parametrize(("body", "field"), [
    (b'{"name": "a\x00b"}', "body"),
    (b'{"name": "\xff\xfe"}', "body"),
    (b'{"name": "a\\u0000b"}', "name"),
    (b'{"goals": [{"goal_id": "\\ud800"}]}', "goals.0.goal_id"),
    (b'{"a\\u0000": 1}', "a\x00"),
])
def test_a_body_with_a_nul_byte_or_invalid_utf8_is_a_422_naming_where(client, body, field):
    assert _fields(_post(client, body)) == [field]


def test_a_good_body_reaches_the_route_unchanged(client):
    body = {"name": "أمينة", "notes": "Zeile\nZeile", "n": [1, 2]}
    r = _post(client, json.dumps(body).encode())
    assert r.status_code == 200 and r.json() == {"thing_id": "t-1", "body": body}


@pytest.mark.parametrize("depth", [33, 900, 5000, 100_000])
def test_a_document_nested_too_deep_is_a_422_not_a_crash(client, depth):
    for opening, closing in ((b"[", b"]"), (b'{"a":', b"}")):
        r = _post(client, opening * depth + b"1" + closing * depth)
        assert r.status_code == 422 and r.json()["errors"][0]["type"] == "too_deep", r.text


def test_a_document_as_deep_as_the_limit_passes(client):
    body = {"n": json.loads("[" * 31 + "1" + "]" * 31)}
    assert _post(client, json.dumps(body).encode()).status_code == 200


def test_a_body_over_a_mebibyte_is_a_413(client):
    assert _post(client, b'"' + b"x" * MAX_BODY + b'"').status_code == 413


@pytest.mark.parametrize(("url", "field"), [
    ("/things/a%00b", "path"), ("/things/a%ffb", "path"), ("/things/a%E2%82%AC", "path.thing_id"),
    ("/things/" + "a" * 101, "path.thing_id"), ("/things?q=a%00", "query.q"), ("/things?q=%ed%a0%80", "query.q"),
    ("/things?q=a%07b", "query.q"), ("/things?municipality=12345678", "query.municipality"),
])
def test_a_bad_path_or_query_is_a_422_naming_it(client, url, field):
    r = client.post(url, json={}) if url.startswith("/things/") else client.get(url)
    assert _fields(r) == [field]


def test_a_correlation_id_must_be_an_id(client):
    assert _fields(client.get("/things", headers={"X-Correlation-ID": "a b"})) == ["header.X-Correlation-ID"]
    assert client.get("/things", headers={"X-Correlation-ID": "c-1"}).status_code == 200


def test_a_value_the_database_or_an_event_refuses_is_a_422_not_a_500(client):
    assert _fields(client.get("/database-refuses")) == ["request"]
    assert _fields(client.get("/event-refuses")) == ["date_of_birth"]
