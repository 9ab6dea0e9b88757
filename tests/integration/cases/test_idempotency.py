"""Idempotency-Key on the real stack: a retried POST /cases opens one case and gets the first answer again."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
from kim_runtime.db import migrations_of

from .conftest import LUENEN, MANAGER, OTHER_MANAGER, TEAM_LEAD, Api
from tests.bodies import ERASURE

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def _case(client_id: str, **over) -> dict:
    return {"client_id": client_id, "municipality": LUENEN, "team": "stadt", "team_organisation_id": "stadt-luenen",
            "access_channel": "jobcenter", "opened_on": "2025-01-10"} | over


async def _cases_of(api: Api, client_id: str) -> list[str]:
    rows = await api.app.state.services.store.pool.fetch(
        "SELECT DISTINCT stream_id FROM events WHERE type = 'kim.cases.CaseOpened' AND data->>'client_id' = $1", client_id)
    return [r["stream_id"] for r in rows]


async def test_a_retry_with_the_same_key_opens_one_case_and_gets_the_first_answer(api: Api):
    client_id = await api.client()
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = await api.call("POST", "/cases", json=_case(client_id), headers=MANAGER | key, expect=201)
    # the same body, its keys in another order: the same request
    again = await api.call("POST", "/cases", json=dict(reversed(list(_case(client_id).items()))),
                           headers=MANAGER | key, expect=201)
    assert again.json() == first.json() and again.content == first.content
    assert again.headers["Location"] == first.headers["Location"] and again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert await _cases_of(api, client_id) == [first.json()["case_id"]]

    other = await api.call("POST", "/cases", json=_case(client_id, access_channel="selbstmelder"),
                           headers=MANAGER | key)
    assert other.status_code == 422 and other.headers["content-type"] == "application/problem+json"
    assert other.json()["errors"][0]["field"] == "header.Idempotency-Key"
    assert other.json()["type"] == "urn:kim:problem:idempotency-key-reused"
    assert await _cases_of(api, client_id) == [first.json()["case_id"]]

    # keys are the caller's own: another caller's same key is another request (here refused by scope, not replayed)
    foreign = await api.call("POST", "/cases", json=_case(client_id), headers=OTHER_MANAGER | key)
    assert foreign.status_code == 404 and "Idempotent-Replayed" not in foreign.headers
    # without a key, a second POST is a second case (the key is what makes a retry a retry)
    await api.call("POST", "/cases", json=_case(client_id), expect=201)
    assert len(await _cases_of(api, client_id)) == 2


async def test_concurrent_retries_apply_once_the_other_sees_409_or_the_answer(api: Api):
    client_id = await api.client()
    key = {"Idempotency-Key": f"retry-{uuid.uuid4()}"}
    answers = await asyncio.gather(*(api.call("POST", "/cases", json=_case(client_id), headers=MANAGER | key)
                                     for _ in range(4)))
    assert {r.status_code for r in answers} <= {201, 409}
    assert len({r.json()["case_id"] for r in answers if r.status_code == 201}) == 1
    for r in answers:
        if r.status_code == 409:
            assert r.json()["type"] == "urn:kim:problem:idempotency-key-in-flight" and r.headers["Retry-After"]
    assert len(await _cases_of(api, client_id)) == 1


async def test_a_refused_command_releases_its_key_and_the_claim_commits_with_the_append(api: Api):
    client_id = await api.client()
    key = {"Idempotency-Key": str(uuid.uuid4())}
    refused = await api.call("POST", "/cases", json=_case(client_id, municipality="Lünen"), headers=MANAGER | key)
    assert refused.status_code == 422
    pool: asyncpg.Pool = api.app.state.services.store.pool
    assert await pool.fetchval("SELECT count(*) FROM idempotency_keys WHERE key = $1", key["Idempotency-Key"]) == 0
    # the corrected request may use the same key
    opened = await api.call("POST", "/cases", json=_case(client_id), headers=MANAGER | key, expect=201)
    row = await pool.fetchrow("SELECT state, status, applied_at FROM idempotency_keys WHERE key = $1",
                              key["Idempotency-Key"])
    assert row["state"] == "done" and row["status"] == 201 and row["applied_at"] is not None
    assert opened.json()["case_id"]


async def test_an_applied_claim_whose_answer_was_lost_is_never_applied_again(api: Api):
    """A crash between the append and the answer: the row is 'applied' (it committed with the events), no answer."""
    client_id = await api.client()
    key = str(uuid.uuid4())
    await api.call("POST", "/cases", json=_case(client_id), headers=MANAGER | {"Idempotency-Key": key}, expect=201)
    pool: asyncpg.Pool = api.app.state.services.store.pool
    await pool.execute("UPDATE idempotency_keys SET state = 'applied', status = NULL, body = NULL, headers = NULL, "
                       "lease_until = now() - interval '1 second' WHERE key = $1", key)
    retry = await api.call("POST", "/cases", json=_case(client_id), headers=MANAGER | {"Idempotency-Key": key})
    assert retry.status_code == 409 and retry.json()["type"] == "urn:kim:problem:idempotency-key-answer-lost"
    assert len(await _cases_of(api, client_id)) == 1


async def test_expired_keys_are_pruned(api: Api):
    client_id = await api.client()
    key = str(uuid.uuid4())
    await api.call("POST", "/cases", json=_case(client_id), headers=MANAGER | {"Idempotency-Key": key}, expect=201)
    pool: asyncpg.Pool = api.app.state.services.store.pool
    await pool.execute("UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE key = $1", key)
    assert await api.app.state.idempotency.prune() >= 1
    assert await pool.fetchval("SELECT count(*) FROM idempotency_keys WHERE key = $1", key) == 0


PERSON = {"name": "Leyla Demir", "date_of_birth": "1987-06-05", "address": "Bahnhofstr. 1, 59423 Unna",
          "contact": "+49 2303 555 0199", "languages": ["ku", "de"], "arrival_year": 2015}


def _plain_hashes(method: str, path: str, body: dict) -> set[str]:
    """What a dump of idempotency_keys could be searched with if fingerprints were plain hashes (the probe's H4)."""
    import hashlib
    import json

    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    raw = json.dumps(body).encode()
    return {hashlib.sha256(f"{method} {path}\n".encode() + canonical).hexdigest(), hashlib.sha256(canonical).hexdigest(),
            hashlib.sha256(raw).hexdigest()}


async def test_a_dump_of_idempotency_keys_holds_no_plain_hash_of_a_body(api: Api):
    key = str(uuid.uuid4())
    await api.call("POST", "/clients", json=PERSON, headers=MANAGER | {"Idempotency-Key": key}, expect=201)
    pool: asyncpg.Pool = api.app.state.services.store.pool
    dump = [dict(r) for r in await pool.fetch("SELECT * FROM idempotency_keys")]
    fingerprints = {r["fingerprint"] for r in dump}
    assert fingerprints and not fingerprints & _plain_hashes("POST", "/clients", PERSON)
    assert all(f.startswith("hmac-sha256:") for f in fingerprints)
    assert not any(h in f for f in fingerprints for h in _plain_hashes("POST", "/clients", PERSON))


async def test_after_the_erasure_no_stored_answer_names_the_client_and_a_retry_runs_nothing(api: Api):
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = await api.call("POST", "/clients", json=PERSON, headers=MANAGER | key, expect=201)
    client_id = first.json()["client_id"]
    again = await api.call("POST", "/clients", json=PERSON, headers=MANAGER | key, expect=201)
    assert again.headers["Idempotent-Replayed"] == "true" and again.json()["client_id"] == client_id
    pool: asyncpg.Pool = api.app.state.services.store.pool
    row = await pool.fetchrow("SELECT subjects, body FROM idempotency_keys WHERE key = $1", key["Idempotency-Key"])
    assert client_id in row["subjects"] and client_id.encode() in bytes(row["body"])  # before: it names them

    await api.post(f"/clients/{client_id}/erasure", ERASURE, headers=TEAM_LEAD | {"If-Match": '"1"'})

    def names_client(r: dict) -> bool:
        return any(client_id in (str(v) if not isinstance(v, bytes) else v.decode("latin-1")) for v in r.values())

    dump = [dict(r) for r in await pool.fetch("SELECT * FROM idempotency_keys")]
    assert not [r for r in dump if names_client(r)]
    assert not {r["fingerprint"] for r in dump} & _plain_hashes("POST", "/clients", PERSON)
    registered = await pool.fetchval("SELECT count(*) FROM events WHERE type = 'kim.cases.ClientRegistered'")
    retry = await api.call("POST", "/clients", json=PERSON, headers=MANAGER | key)
    # the retry is told the answer is gone (nothing about the client), and registers no one a second time
    assert retry.status_code == 410 and retry.headers["content-type"] == "application/problem+json"
    assert retry.json()["type"] == "urn:kim:problem:idempotency-answer-forgotten" and client_id not in retry.text
    assert await pool.fetchval("SELECT count(*) FROM events WHERE type = 'kim.cases.ClientRegistered'") == registered


async def test_a_row_from_before_the_hmac_fingerprints_answers_422_not_500(api: Api):
    """Across the upgrade: a key stored with a plain sha256 fingerprint (retired by migration 012) never matches."""
    key = str(uuid.uuid4())
    await api.call("POST", "/clients", json=PERSON, headers=MANAGER | {"Idempotency-Key": key}, expect=201)
    pool: asyncpg.Pool = api.app.state.services.store.pool
    legacy = _plain_hashes("POST", "/clients", PERSON).pop()
    await pool.execute("UPDATE idempotency_keys SET fingerprint = $2 WHERE key = $1", key, legacy)
    retry = await api.call("POST", "/clients", json=PERSON, headers=MANAGER | {"Idempotency-Key": key})
    assert retry.status_code == 422 and retry.json()["type"] == "urn:kim:problem:idempotency-key-reused"
    # and what migration 012 does to such rows: a fingerprint no request matches, the answer dropped
    sql = next(sql for name, sql in migrations_of("kim_runtime") if name.endswith("/012_idempotency_subjects.sql"))
    await pool.execute(sql)
    row = await pool.fetchrow("SELECT fingerprint, body FROM idempotency_keys WHERE key = $1", key)
    assert row["fingerprint"] == "retired-sha256" and row["body"] is None
    again = await api.call("POST", "/clients", json=PERSON, headers=MANAGER | {"Idempotency-Key": key})
    assert again.status_code == 422


# -- POST /clients and POST /cases claim their key in their append (kim_runtime.idempotency.claimed_in_append) ------

async def _registered(pool: asyncpg.Pool) -> tuple[int, int, int]:
    """Clients as each of the three writes of a registration has them: events, keys, registrations."""
    return (await pool.fetchval("SELECT count(*) FROM events WHERE type = 'kim.cases.ClientRegistered'"),
            await pool.fetchval("SELECT count(*) FROM client_keys"),
            await pool.fetchval("SELECT count(*) FROM client_registrations"))


CLIENT = {"name": "Amina Haddad", "date_of_birth": "1990-04-02", "address": "Kurt-Schumacher-Str. 4, 44532 Lünen",
          "contact": "+49 2306 555 0101", "languages": ["ar", "de"], "arrival_year": 2016}


async def test_a_retried_registration_is_undone_whole_and_answered_as_the_first(api: Api):
    pool: asyncpg.Pool = api.app.state.services.store.pool
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = await api.call("POST", "/clients", json=CLIENT, headers=MANAGER | key, expect=201)
    before = await _registered(pool)
    # the retry registers a new client up to its append, which finds the key used: events, key and registration undone
    again = await api.call("POST", "/clients", json=CLIENT, headers=MANAGER | key, expect=201)
    assert again.content == first.content and again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Location"] == first.headers["Location"]
    assert await _registered(pool) == before
    other = await api.call("POST", "/clients", json=CLIENT | {"name": "Someone Else"}, headers=MANAGER | key)
    assert other.status_code == 422 and other.json()["type"] == "urn:kim:problem:idempotency-key-reused"
    assert await _registered(pool) == before
    row = await pool.fetchrow("SELECT state, status FROM idempotency_keys WHERE key = $1", key["Idempotency-Key"])
    assert (row["state"], row["status"]) == ("done", 201)


async def test_concurrent_registrations_with_one_key_register_one_client(api: Api):
    pool: asyncpg.Pool = api.app.state.services.store.pool
    before = await _registered(pool)
    key = {"Idempotency-Key": f"twins-{uuid.uuid4()}"}
    answers = await asyncio.gather(*(api.call("POST", "/clients", json=CLIENT, headers=MANAGER | key)
                                     for _ in range(6)))
    assert {r.status_code for r in answers} <= {201, 409}, [r.text for r in answers]
    assert len({r.json()["client_id"] for r in answers if r.status_code == 201}) == 1
    for r in answers:
        if r.status_code == 409:
            assert r.json()["type"] == "urn:kim:problem:idempotency-key-in-flight"
    assert await _registered(pool) == tuple(n + 1 for n in before)


async def test_a_refused_retry_of_an_applied_request_gets_the_keys_answer(api: Api):
    """The retry runs the route first: here it is refused (the client was erased meanwhile), and the key, looked up
    then, gives its stored answer, not the route's refusal: since the erasure that answer is the 410 that names
    nothing (idempotency.forget); with another body, 422."""
    client_id = await api.client()
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = await api.call("POST", "/cases", json=_case(client_id), headers=MANAGER | key, expect=201)
    from tests.bodies import ERASURE

    from .conftest import TEAM_LEAD
    await api.post(f"/clients/{client_id}/erasure", ERASURE, headers=TEAM_LEAD)
    refused = await api.call("POST", "/cases", json=_case(client_id), headers=MANAGER)
    assert refused.status_code in (404, 409, 422), refused.text  # the route refuses a case for an erased client
    again = await api.call("POST", "/cases", json=_case(client_id), headers=MANAGER | key, expect=410)
    assert again.json()["type"] == "urn:kim:problem:idempotency-answer-forgotten"
    assert again.headers["Idempotent-Replayed"] == "true" and refused.json()["type"] != again.json()["type"]
    other = await api.call("POST", "/cases", json=_case(client_id, opened_on="2025-02-01"), headers=MANAGER | key)
    assert other.status_code == 422 and other.json()["type"] == "urn:kim:problem:idempotency-key-reused"
    assert await _cases_of(api, client_id) == [first.json()["case_id"]]


async def test_an_expired_key_is_taken_over_by_the_append(api: Api):
    pool: asyncpg.Pool = api.app.state.services.store.pool
    key = str(uuid.uuid4())
    first = await api.call("POST", "/clients", json=CLIENT, headers=MANAGER | {"Idempotency-Key": key}, expect=201)
    await pool.execute("UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE key = $1", key)
    again = await api.call("POST", "/clients", json=CLIENT, headers=MANAGER | {"Idempotency-Key": key}, expect=201)
    assert again.json()["client_id"] != first.json()["client_id"] and "Idempotent-Replayed" not in again.headers
    row = await pool.fetchrow("SELECT state, status, body FROM idempotency_keys WHERE key = $1", key)
    assert (row["state"], row["status"]) == ("done", 201) and bytes(row["body"]) == again.content


async def test_a_key_whose_holder_died_before_applying_is_taken_over_and_the_route_runs_once_more(api: Api):
    """An in_flight row past its lease (a held claim of a request that stopped before its append): the append finds
    the key used, the lookup takes it over, the route runs again holding it, and applies once."""
    pool: asyncpg.Pool = api.app.state.services.store.pool
    before = await _registered(pool)
    key = str(uuid.uuid4())
    from kim_runtime.idempotency import scope_of

    principal = await api.app.state.token_verifier.verify(MANAGER["Authorization"].split(" ", 1)[1])
    import json
    body = json.dumps(CLIENT).encode()
    await pool.execute(
        "INSERT INTO idempotency_keys (scope, key, fingerprint, claim, state, lease_until, expires_at) VALUES "
        "($1, $2, $3, $4, 'in_flight', now() - interval '1 second', now() + interval '1 hour')",
        scope_of(principal), key, api.app.state.idempotency.fingerprint("POST", "/clients", body), uuid.uuid4())
    answer = await api.call("POST", "/clients", content=body, headers=MANAGER | {"Idempotency-Key": key,
                                                                                 "Content-Type": "application/json"})
    assert answer.status_code == 201, answer.text
    assert await _registered(pool) == tuple(n + 1 for n in before)
    row = await pool.fetchrow("SELECT state, status FROM idempotency_keys WHERE key = $1", key)
    assert (row["state"], row["status"]) == ("done", 201)
