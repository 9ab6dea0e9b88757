"""`kim audit case` end to end: the real cases service (in-process) plus staffing and referrals stores holding
events about the case; trail order, causes, formats, --as-of, erasure, and the audit records of each export."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import httpx
import pytest

from kim_runtime import db
from kim_runtime.auth import Principal, Role, issue_token
from kim_runtime.envelope import Envelope
from kim_runtime.store import EventStore

from . import cli

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
SECRET = "audit-integration-test-secret-0123456789"
NAME = "Amina Haddad"


def _auth(role: Role, sub: str) -> dict[str, str]:
    principal = Principal(sub=sub, role=role, team="stadt-luenen", municipality="05978024")
    return {"Authorization": f"Bearer {issue_token(SECRET, principal)}"}


MANAGER, LEAD = _auth(Role.CASE_MANAGER, "staff-1"), _auth(Role.TEAM_LEAD, "lead-1")
AUDITOR = _auth(Role.AUDITOR, "auditor-7")


def _bearer(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


async def _cli_reads(cases_api, client_id: str) -> list[tuple[str, str, list[str]]]:
    """Reads of the client's personal data through `kim audit`, as GET /clients/{id}/reads shows them."""
    r = await cases_api.get(f"/clients/{client_id}/reads", headers=AUDITOR)
    assert r.status_code == 200, r.text
    return [(x["actor"], x["role"], x["fields"]) for x in r.json() if x["via"] == "kim audit case --show-personal"]


@pytest.fixture
async def cases_api(fresh_db, kafka_bootstrap, monkeypatch):
    """The cases service, in-process for the test and on a real port for `kim audit` (KIM_CASES_URL), which answers
    `kim audit case` and records every read (GET /audit/cases/{id}, POST /audit/records)."""
    from kim_cases.bootstrap import build_app
    from kim_cases.settings import CasesSettings

    app = build_app(CasesSettings(database_url=fresh_db, kafka_bootstrap=kafka_bootstrap, auth_secret=SECRET))
    async with app.router.lifespan_context(app), cli.listening(app) as url:
        monkeypatch.setenv("KIM_CASES_URL", url)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cases") as http:
            yield http


@pytest.fixture
async def other_db(stack):
    from kim_cli.stack import create_database, drop_database

    names = []

    async def make(label: str) -> str:
        name = f"kim_test_audit_{label}_{len(names)}_{datetime.now().strftime('%H%M%S%f')}"
        names.append(name)
        await create_database(stack.postgres_url, name)
        url = stack.database_url(name)
        conn = await db.connect(url)
        try:
            await db.migrate(conn, [])
        finally:
            await conn.close()
        return url

    yield make
    for name in names:
        await drop_database(stack.postgres_url, name)


async def _post(http, url, body, headers=MANAGER, expect=201) -> dict:
    r = await http.post(url, json=body, headers=headers)
    assert r.status_code == expect, r.text
    return r.json()


async def _append(url: str, topic: str, stream: str, events: list[tuple[str, dict, str | None]]) -> None:
    pool = await db.create_pool(url)
    try:
        store = EventStore(pool, topic)
        envelopes = [Envelope(type=t, source=f"/kim/{topic.split('.')[1]}", stream_id=stream, actor="svc-test",
                              causation_id=cause, data=data) for t, data, cause in events]
        await store.append(stream, envelopes, await store.stream_version(stream))
    finally:
        await pool.close()


async def _case_opened_id(url: str, case_id: str) -> str:
    conn = await db.connect(url)
    try:
        return str(await conn.fetchval("SELECT event_id FROM events WHERE stream_id = $1 AND version = 1", case_id))
    finally:
        await conn.close()


async def _audit_records(url: str) -> list[tuple[str, str, dict]]:
    conn = await db.connect(url)
    try:
        rows = await conn.fetch("SELECT type, metadata, data FROM events WHERE stream_id LIKE 'audit-%' ORDER BY position")
        stream = await conn.fetchval("SELECT stream_id FROM events WHERE stream_id LIKE 'audit-%' LIMIT 1")
    finally:
        await conn.close()
    assert stream in (None, f"audit-{datetime.now(UTC).date().isoformat()}")
    return [(r["type"], r["metadata"]["actor"], r["data"]) for r in rows]


async def test_trail_across_services_as_of_and_erasure(cases_api, fresh_db, other_db):
    client_id = (await _post(cases_api, "/clients", {"name": NAME, "date_of_birth": "1990-04-02",
                                                     "languages": ["ar"], "arrival_year": 2016}))["client_id"]
    case_id = (await _post(cases_api, "/cases", {"client_id": client_id, "municipality": "05978024", "team": "stadt",
                                                 "team_organisation_id": "stadt-luenen", "access_channel": "jobcenter",
                                                 "opened_on": "2025-01-10"}))["case_id"]
    staffing, referrals = await other_db("staffing"), await other_db("referrals")
    opened = await _case_opened_id(fresh_db, case_id)
    await _append(staffing, "kim.staffing", case_id, [(
        "kim.staffing.CaseManagerAssigned", {"case_id": case_id, "staff_member_id": "staff-1"}, opened)])
    between = datetime.now(UTC)
    await _post(cases_api, f"/cases/{case_id}/consents", {
        "recipients": ["abh-unna"], "purposes": ["aufenthaltssicherung"], "data_categories": ["aufenthalt"],
        "form": "schriftlich", "informed_in": "ar", "granted_on": "2025-01-10"})
    await _append(referrals, "kim.referrals", "ref-1", [
        ("kim.referrals.ReferralRequested", {"referral_id": "ref-1", "case_id": case_id}, None),
        ("kim.referrals.ReferralAccepted", {"referral_id": "ref-1"}, None)])
    await _append(referrals, "kim.referrals", "ref-2", [
        ("kim.referrals.ReferralRequested", {"referral_id": "ref-2", "case_id": "another-case"}, None)])
    env = cli.environment(KIM_CASES_DATABASE_URL=fresh_db, KIM_STAFFING_DATABASE_URL=staffing,
                          KIM_REFERRALS_DATABASE_URL=referrals,
                          KIM_REPORTING_DATABASE_URL=fresh_db.rsplit("/", 1)[0] + "/kim_no_such_db",
                          KIM_AUTH_SECRET=SECRET)
    for args in ((), ("--show-personal",)):  # with or without personal data in clear: a token, an auditor's
        for token, refusal in ((None, "give your token"), (_bearer(MANAGER), "role case_manager may not run"),
                               ("not-a-token", "the token is not valid")):
            code, out, err = await cli.run("audit", "case", case_id, *args,
                                           *(("--token", token) if token else ()), env=env)
            assert (code, out) == (2, "") and refusal in err, err  # nothing shown
    assert await _audit_records(fresh_db) == [], "a refused command reads and records nothing"
    env["KIM_TOKEN"] = _bearer(AUDITOR)

    code, out, err = await cli.run("audit", "case", case_id, "--format", "json", env=env)
    assert code == 0, err
    assert "reporting: no database" in err
    trail = json.loads(out)
    events = [(e["service"], e["stream_id"], e["type"].rsplit(".", 1)[1]) for e in trail["events"]]
    assert events == [
        ("cases", client_id, "ClientRegistered"), ("cases", case_id, "CaseOpened"),
        ("staffing", case_id, "CaseManagerAssigned"), ("cases", case_id, "ConsentGranted"),
        ("referrals", "ref-1", "ReferralRequested"), ("referrals", "ref-1", "ReferralAccepted")]
    times = [e["time"] for e in trail["events"]]
    assert times == sorted(times)
    by_type = {e["type"].rsplit(".", 1)[1]: e for e in trail["events"]}
    assert by_type["CaseManagerAssigned"]["caused_by"] == f"cases CaseOpened ({case_id} v1)"
    assert by_type["CaseOpened"]["actor"] == "staff-1"
    assert by_type["CaseOpened"]["caused_by"].startswith("command ")
    assert by_type["ClientRegistered"]["data"]["personal"] == "withheld"
    assert NAME not in out
    # recorded by the cases service as it answered its part of the trail (its store's 3 events of the 6)
    assert await _audit_records(fresh_db) == [("kim.audit.TrailExported", "auditor-7", {
        "case_id": case_id, "client_id": client_id, "format": "json", "as_of": None, "events": 3,
        "destination": "stdout", "role": "auditor", "at": (await _audit_records(fresh_db))[0][2]["at"]})]
    # the trail itself is the client's casework: read with everything personal withheld, and still in the log
    r = await cases_api.get(f"/clients/{client_id}/reads", headers=AUDITOR)
    assert [(x["via"], x["actor"], x["role"], x["fields"]) for x in r.json() if x["via"].startswith("kim audit")] == [
        ("kim audit case", "auditor-7", "auditor", ["trail"])]

    code, out, err = await cli.run("audit", "case", case_id, "--format", "csv", "--show-personal", env=env)
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    registered = next(r for r in rows if r["type"] == "kim.cases.ClientRegistered")
    assert json.loads(registered["data"])["personal"]["name"] == NAME
    assert [r["type"] for r in rows][-1] == "kim.audit.TrailExported", "the earlier export is part of the trail"
    # one access log: the CLI's read is in the client's own log, under the token's identity, as an API read would be
    assert await _cli_reads(cases_api, client_id) == [
        ("auditor-7", "auditor", ["informed_in", "personal", "profile"])]

    code, out, err = await cli.run("audit", "case", case_id, "--as-of", between.isoformat(), "--format", "json",
                                   env=env)
    assert code == 0, err
    then = json.loads(out)
    assert then["version"] == 1 and then["folded_by"] == "kim_cases aggregate"
    assert then["state"]["phase"] == "intake" and then["state"]["consents"] == []
    code, out, err = await cli.run("audit", "case", case_id, "--as-of", datetime.now(UTC).isoformat(), env=env)
    assert code == 0, err
    assert "version 2" in out and '"consent"' in out

    code, out, err = await cli.run("audit", "erasures", env=env)
    assert (code, out) == (0, "no erasures recorded\n"), err
    await _post(cases_api, f"/clients/{client_id}/erasure",
                {"ground": "widerspruch", "request_reference": "DSGVO-2026-0042"}, headers=LEAD, expect=200)
    code, out, err = await cli.run("audit", "erasures", "--format", "json", env=env)
    assert code == 0, err
    [erasure] = json.loads(out)["erasures"]  # who, when, on which ground and request, which key
    assert (erasure["client_id"], erasure["ground"], erasure["request_reference"]) == (
        client_id, "widerspruch", "DSGVO-2026-0042")
    assert erasure["actor"] and erasure["key_id"] and erasure["erased_at"]
    code, out, err = await cli.run("audit", "case", case_id, "--show-personal", env=env)
    assert code == 0, err
    assert f"(client {client_id}, erased)" in out and 'personal="erased"' in out and NAME not in out
    assert "ClientErased" in out
    kinds = [t for t, _, _ in await _audit_records(fresh_db)]
    assert "kim.audit.PersonalDataViewed" not in kinds
    reads = await _cli_reads(cases_api, client_id)
    assert reads[-1] == ("auditor-7", "auditor", ["trail"]), "the read after the erasure is recorded"
    assert len([r for r in reads if r[2] != ["trail"]]) == 1, "nothing was read in clear after the erasure"
    assert kinds.count("kim.audit.TrailExported") == 7  # five trails and two lists of erasures
    assert [d["list"] for t, a, d in await _audit_records(fresh_db) if "list" in d] == ["erasures"] * 2


async def test_an_unknown_case_is_refused_with_what_to_do(fresh_db):
    pool = await db.create_pool(fresh_db)
    try:
        async with pool.acquire() as conn:
            await db.migrate(conn, [])
    finally:
        await pool.close()
    code, out, err = await cli.run("audit", "case", "no-such-case", env=cli.environment(
        KIM_CASES_DATABASE_URL=fresh_db, KIM_AUTH_SECRET=SECRET, KIM_TOKEN=_bearer(AUDITOR)))
    assert code == 2
    assert "no case no-such-case in the cases store: check the id" in err


async def test_an_audit_record_goes_to_the_log_of_the_client_it_shows_in_printable_text_only(cases_api):
    """POST /audit/records (stranger's probe): a read recorded in another client's log than the one its answer shows,
    or text that hides or reorders what an auditor reads (C1 controls, direction overrides, zero-width characters,
    line separators), is refused naming the field, and nothing is written."""
    clients = [(await _post(cases_api, "/clients", {"name": f"{NAME} {n}"}))["client_id"] for n in range(2)]
    case_id = (await _post(cases_api, "/cases", {"client_id": clients[0], "municipality": "05978024", "team": "stadt",
                                                 "team_organisation_id": "stadt-luenen", "access_channel": "jobcenter",
                                                 "opened_on": "2025-01-10"}))["case_id"]

    async def reads(client_id: str) -> int:
        r = await cases_api.get(f"/clients/{client_id}/reads", headers=AUDITOR)
        assert r.status_code == 200, r.text
        return len(r.json())

    async def post(client_id: str, answer: dict, fields: list[str]) -> httpx.Response:
        return await cases_api.post("/audit/records", headers=AUDITOR, json={
            "command": "referral", "via": "kim audit referral", "client_id": client_id, "fields": fields,
            "answer": answer})

    # a case's read is the cases service's own to record (GET /audit/cases/{id}): posted, only an export's hash
    for client_id, fields, answer in ((clients[0], ["personal"], {"case_id": case_id}), (None, [], {"case_id": case_id}),
                                      (clients[0], [], {"case_id": case_id, "sha256": "a" * 64})):
        r = await cases_api.post("/audit/records", headers=AUDITOR, json={
            "command": "case", "via": "kim audit case --show-personal", "client_id": client_id, "fields": fields,
            "answer": answer})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.command", r.text

    before = [await reads(c) for c in clients]
    wrong_log = [({"case_id": case_id, "client_id": clients[0]}, clients[1]),  # the answer names another client
                 ({"case_id": case_id}, clients[1])]  # the case is another client's
    for answer, logged in wrong_log:
        r = await post(logged, answer, ["personal"])
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.client_id", r.text
    for hidden in ("\u0085", "\u009b31m", "\u202e", "\u2028", "\u200b", "\ufeff", "\u2066"):
        for answer, fields in (({"case_id": case_id, "note": f"a{hidden}b"}, ["personal"]),
                               ({"case_id": case_id}, [f"personal{hidden}"])):
            r = await post(clients[0], answer, fields)
            assert r.status_code == 422, (hidden, r.text)
    assert [await reads(c) for c in clients] == before  # nothing written by any refusal
    r = await post(clients[0], {"case_id": case_id, "client_id": clients[0], "note": "Straße 1, Ωμέγα"}, ["personal"])
    assert r.status_code == 201, r.text
    assert [await reads(c) for c in clients] == [before[0] + 1, before[1]]


def _without_kek(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k not in ("KIM_MASTER_KEY", "KIM_MASTER_KEY_FILE")}


async def test_the_cli_decrypts_nothing_the_cases_service_opens_and_records_the_read(cases_api, fresh_db):
    """Issue 15: `kim audit case --show-personal` holds no KEK. With none on the CLI's side, or a wrong one, the
    name is still shown (opened by the cases service, with its own keyring) and the read is in GET
    /clients/{id}/reads under the auditor's token; with the database credentials but no token (or a token of a role
    that may not) nothing personal is shown, and the store itself holds the name only as ciphertext."""
    from kim_cases.public import generate_kek

    client_id = (await _post(cases_api, "/clients", {"name": NAME, "date_of_birth": "1990-04-02"}))["client_id"]
    case_id = (await _post(cases_api, "/cases", {"client_id": client_id, "municipality": "05978024", "team": "stadt",
                                                 "team_organisation_id": "stadt-luenen", "access_channel": "jobcenter",
                                                 "opened_on": "2025-01-10"}))["case_id"]
    nowhere = fresh_db.rsplit("/", 1)[0] + "/kim_no_such_db"
    env = _without_kek(cli.environment(KIM_CASES_DATABASE_URL=fresh_db, KIM_STAFFING_DATABASE_URL=nowhere,
                                       KIM_REFERRALS_DATABASE_URL=nowhere, KIM_REPORTING_DATABASE_URL=nowhere,
                                       KIM_AUTH_SECRET=SECRET))
    wrong = generate_kek("not-the-services").entry()
    for kek in ({}, {"KIM_MASTER_KEY": wrong}, {"KIM_MASTER_KEY": wrong, "KIM_ENV": "production"}):
        code, out, err = await cli.run("audit", "case", case_id, "--show-personal", "--format", "json",
                                       env=env | kek | {"KIM_TOKEN": _bearer(AUDITOR)})
        assert code == 0, err
        registered = next(e for e in json.loads(out)["events"] if e["type"] == "kim.cases.ClientRegistered")
        assert registered["data"]["personal"]["name"] == NAME, kek
    assert await _cli_reads(cases_api, client_id) == [("auditor-7", "auditor", ["personal", "profile"])] * 3

    for token, refusal in ((None, "give your token"), (_bearer(MANAGER), "role case_manager may not run")):
        code, out, err = await cli.run("audit", "case", case_id, "--show-personal",
                                       *(("--token", token) if token else ()), env=env)
        assert (code, out) == (2, "") and refusal in err and NAME not in err, err
    # a changed CLI that skipped its own check is refused by the service (the token decides, not the CLI)
    async with httpx.AsyncClient(transport=cases_api._transport, base_url="http://cases") as http:
        for headers, status in (({}, 401), (MANAGER, 403)):
            r = await http.get(f"/audit/cases/{case_id}", params={"personal": "true"}, headers=headers)
            assert r.status_code == status and NAME not in r.text, r.text
    assert len(await _cli_reads(cases_api, client_id)) == 3, "a refused read is neither answered nor recorded"
    conn = await db.connect(fresh_db)
    try:
        in_clear = await conn.fetchval("SELECT count(*) FROM events WHERE data::text LIKE '%' || $1 || '%'", "Haddad")
    finally:
        await conn.close()
    assert in_clear == 0, "the store holds the name only as ciphertext: without the service's KEK nothing opens"
