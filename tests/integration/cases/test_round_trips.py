"""PostgreSQL round trips per command, counted on the real database (tests/round_trips.py wraps every pooled
connection's protocol and counts the exchanges one request makes). The write path saturated on them (issue 18: the
event loop of cases spent most of its time in the socket writes of its round trips): each count here is the
current one, so a change that adds a round trip to every command fails here instead of in a benchmark."""

from __future__ import annotations

import uuid

import httpx
import pytest

from kim_cases.bootstrap import build_app
from kim_cases.settings import CasesSettings
from tests import round_trips

from .conftest import LUENEN, MANAGER, SECRET, Api

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

CLIENT = {"name": "Amina Haddad", "date_of_birth": "1990-04-02", "address": "Kurt-Schumacher-Str. 4, 44532 Lünen",
          "contact": "+49 2306 555 0101", "languages": ["ar", "de"], "arrival_year": 2016}


def _case(client_id: str) -> dict:
    return {"client_id": client_id, "municipality": LUENEN, "team": "stadt", "team_organisation_id": "stadt-luenen",
            "access_channel": "jobcenter", "opened_on": "2025-01-10"}


@pytest.fixture
async def counted(fresh_db: str, kafka_bootstrap: str, monkeypatch) -> Api:
    round_trips.install(monkeypatch)  # before the service makes its pool
    app = build_app(CasesSettings(database_url=fresh_db, kafka_bootstrap=kafka_bootstrap, auth_secret=SECRET))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cases") as http:
            yield Api(http, app)


async def _measure(api: Api, method: str, url: str, body: dict) -> tuple[httpx.Response, round_trips.RoundTrips]:
    rt = round_trips.RoundTrips()
    with rt.measure():
        answer = await api.call(method, url, json=body, headers=MANAGER | {"Idempotency-Key": str(uuid.uuid4())})
    print(f"\n{method} {url}: {rt.count()} round trips\n  " + "\n  ".join(rt.statements()))
    return answer, rt


async def test_round_trips_of_post_clients_and_post_cases(counted: Api):
    api = counted
    await api.client()  # warm: statements prepared, types known (not counted anyway)
    await api.case(await api.client())

    registered, rt = await _measure(api, "POST", "/clients", CLIENT)
    assert registered.status_code == 201, registered.text
    kinds = [kind for kind, _ in rt.steady()]
    # the append, with the client's key, their registration and the Idempotency-Key's claim in its own statement
    # (kim_runtime.store.Write, idempotency.claimed_in_append; was the claim, BEGIN, two INSERTs, the append marking
    # the claim, COMMIT: 6); the answer kept for a retry
    assert kinds == ["execute", "execute"], rt.statements()
    appended = rt.steady()[0][1]
    assert "INSERT INTO client_keys" in appended and "INSERT INTO client_registrations" in appended, rt.statements()
    assert "INSERT INTO idempotency_keys" in appended and "kim_append" in appended, rt.statements()
    assert "kim_claim_held" in appended, rt.statements()
    assert rt.count() == 2

    opened, rt = await _measure(api, "POST", "/cases", _case(registered.json()["client_id"]))
    assert opened.status_code == 201, opened.text
    # the append makes the Idempotency-Key's claim in its own statement, no transaction around it (was a claim of its
    # own, then BEGIN, append, COMMIT). The client's stream is read once, their registration and cases in one
    # statement, and the "served elsewhere" check asks no more (was: the stream twice, the cases twice, the
    # registration alone: 9); the client's key once (the case's dates are sealed); the answer kept: 5
    assert not any(kind == "query" for kind, _ in rt.steady()), rt.statements()
    texts = [text for _, text in rt.steady()]
    assert sum("FROM events WHERE stream_id" in t for t in texts) == 1, rt.statements()
    assert sum("data->>'client_id'" in t for t in texts) == 1, rt.statements()
    assert sum("FROM client_keys" in t for t in texts) == 1, rt.statements()
    assert sum("idempotency_keys" in t for t in texts) == 2, rt.statements()  # the claim in the append; the answer
    assert "INSERT INTO idempotency_keys" in texts[-2] and "kim_append" in texts[-2], rt.statements()
    assert rt.count() == 5

    # the measuring counts: the same request without its key makes one round trip fewer (the answer kept)
    rt = round_trips.RoundTrips()
    with rt.measure():
        await api.call("POST", "/clients", json=CLIENT, expect=201)
    assert rt.count() == 1, rt.statements()


async def test_a_read_of_personal_data_records_and_receipts_it_without_reading_the_hash_back(counted: Api):
    api = counted
    client_id = await api.client()
    await api.get(f"/clients/{client_id}")  # warm: the store's id for receipts is read once per process
    receipts, issued = api.app.state.runtime.store.receipts, []
    issue = receipts.issue

    async def spy(stream_id: str, version: int, hash_hex: str):
        issued.append((stream_id, version, hash_hex))
        return await issue(stream_id, version, hash_hex)

    receipts.issue = spy
    rt = round_trips.RoundTrips()
    with rt.measure():
        await api.get(f"/clients/{client_id}")
    print(f"\nGET /clients/{{id}}: {rt.count()} round trips\n  " + "\n  ".join(rt.statements()))
    # kim_append returns the new head's hash (migration 010): the receipt signs it without a second read
    assert not any("encode(hash" in text for _, text in rt.steady()), rt.statements()
    appends = [text for _, text in rt.steady() if "kim_append" in text]
    assert len(appends) == 1 and "out_hash" in appends[0]
    pool = api.app.state.services.store.pool
    head = await pool.fetchrow("SELECT version, encode(last_hash, 'hex') AS hash FROM streams WHERE stream_id = $1",
                               f"access-{client_id}")
    assert issued == [(f"access-{client_id}", head["version"], head["hash"])]


async def test_a_case_command_reads_the_case_and_the_clients_key_once(counted: Api):
    """Recording a consent: the route's policy loads the case to find its owner (opening its sealed fields with the
    client's key), the command takes that case (access.loaded_case) instead of loading it again, and the key is read
    and unwrapped once per request (kim_runtime.commands.request_memo): was 9 round trips (the case, the key and the
    client twice each)."""
    api = counted
    case_id = await api.case(await api.client())
    await api.consent(case_id)  # warm
    body = {"recipients": ["abh-unna"], "purposes": ["aufenthaltssicherung"], "data_categories": ["aufenthalt"],
            "form": "schriftlich", "informed_in": "ar", "granted_on": "2025-01-10"}
    granted, rt = await _measure(api, "POST", f"/cases/{case_id}/consents", body)
    assert granted.status_code == 201, granted.text
    texts = [text for _, text in rt.steady()]
    assert sum("FROM client_keys" in t for t in texts) == 1, rt.statements()
    assert sum("FROM events WHERE stream_id" in t for t in texts) == 2, rt.statements()  # the case, the client
    assert rt.count() == 6, rt.statements()
