"""Personal data never leaves in clear: not in the store, the outbox or the topic; erasure makes it unreadable
everywhere the service shows it; every read in clear is recorded."""

from __future__ import annotations

import asyncpg
import pytest
from kim_runtime.audit_chain import verify_chains

from .conftest import AUDITOR, TEAM_LEAD, Api
from .kafka_tail import eventually, records_of
from tests.bodies import ERASURE

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

NAME = "Zaynab Qaraqosh-Wielgosz"
ADDRESS = "Zypressenweg 77, 59423 Unna"
NOTES = "Vertrauliche Notiz: Kinder im Schulstress"


async def _story(api: Api) -> tuple[str, str]:
    client_id = await api.client(NAME, address=ADDRESS, contact="zaynab.q@example.org")
    return client_id, await api.case_with_notes(client_id, NOTES)


def _needles() -> list[bytes]:
    parts = [NAME, *NAME.split(), *NAME.split()[1].split("-"), ADDRESS, "Zypressenweg", NOTES, "Schulstress",
             "zaynab.q@example.org"]
    return [p.encode() for p in parts]


async def test_no_byte_of_the_name_reaches_the_store_the_outbox_or_the_topic(api: Api, fresh_db: str,
                                                                             kafka_bootstrap: str):
    client_id, case_id = await _story(api)
    conn = await asyncpg.connect(fresh_db)
    try:
        async def relayed():
            return await conn.fetchval("SELECT count(*) = 0 FROM outbox WHERE sent_at IS NULL")

        await eventually(relayed)
        stored = await conn.fetch(
            "SELECT e.data::text AS data, e.metadata::text AS meta, o.topic FROM events e "
            "LEFT JOIN outbox o USING (position) WHERE e.stream_id = ANY($1)", [client_id, case_id])
    finally:
        await conn.close()
    assert len(stored) == 6 and {r["topic"] for r in stored} == {"kim.cases"}
    records = await records_of(kafka_bootstrap, "kim.cases", {client_id, case_id}, at_least=6)
    wire = [m.value + m.key + b"".join(k.encode() + v for k, v in m.headers) for m in records]
    rows = [(r["data"] + r["meta"]).encode() for r in stored]
    for needle in _needles():
        assert not any(needle in blob for blob in wire), f"{needle!r} is on the topic"
        assert not any(needle in blob for blob in rows), f"{needle!r} is in the store/outbox"
    # ...while the service itself still shows them to a case manager
    assert (await api.get(f"/clients/{client_id}"))["personal"]["name"] == NAME


async def test_erasure_makes_the_name_unreadable_everywhere_the_service_shows_it(api: Api, fresh_db: str):
    client_id, case_id = await _story(api)
    before = await api.get(f"/cases/{case_id}")
    assert before["client"]["name"] == NAME and before["reviews"][0]["notes"] == NOTES

    r = await api.call("POST", f"/clients/{client_id}/erasure", headers=TEAM_LEAD | {"If-Match": '"1"'},
                       json=ERASURE)
    assert r.status_code == 200 and r.headers["ETag"] == '"2"'

    client = await api.get(f"/clients/{client_id}")
    assert client["erased"] is True
    assert client["personal"] == {"name": "erased", "date_of_birth": "erased", "address": "erased",
                                  "contact": "erased"}
    assert client["case_ids"] == [case_id]  # the cases stay
    # birth year, languages and arrival year could together single the person out: encrypted, so erased too
    assert (client["birth_year"], client["languages"], client["arrival_year"]) == ("erased",) * 3
    case = await api.get(f"/cases/{case_id}")
    assert case["client"]["name"] == "erased" and case["reviews"][0]["notes"] == "erased"
    assert case["phase"] == "monitoring" and case["consents"][0]["recipients"] == ["abh-unna"]
    case_history = await api.get(f"/cases/{case_id}/history")
    client_history = await api.get(f"/clients/{client_id}/history")
    assert case_history[-1]["data"]["notes"] == "erased"
    assert client_history[0]["data"]["personal"]["name"] == "erased"
    assert client_history[-1]["type"] == "kim.cases.ClientErased"
    listing = await api.get("/cases")
    everything = repr([client, case, case_history, client_history, listing]).encode()
    for needle in _needles():
        assert needle not in everything, f"{needle!r} is still shown"

    conn = await asyncpg.connect(fresh_db)
    try:
        assert await conn.fetchval("SELECT count(*) FROM client_keys WHERE client_id = $1", client_id) == 0
        assert await conn.fetchval("SELECT count(*) FROM events WHERE stream_id = ANY($1)", [client_id, case_id]) == 7
    finally:
        await conn.close()

    r = await api.call("POST", f"/clients/{client_id}/erasure", headers=TEAM_LEAD, json=ERASURE)
    assert r.status_code == 409 and "was erased" in r.json()["detail"]
    r = await api.call("POST", f"/cases/{case_id}/reviews", json={"notes": "more"})
    assert r.status_code == 409 and "can no longer be recorded" in r.json()["detail"]
    r = await api.call("POST", "/cases", json={"client_id": client_id, "municipality": "05978024", "team": "stadt",
                                                "team_organisation_id": "stadt-luenen", "access_channel": "jobcenter"})
    assert r.status_code == 409 and "open a case for them" in r.json()["detail"]


async def test_reads_are_recorded_and_auditors_see_personal_data_withheld(api: Api):
    client_id, case_id = await _story(api)
    await api.get(f"/clients/{client_id}")
    await api.get(f"/cases/{case_id}", headers=TEAM_LEAD)
    audited = await api.get(f"/cases/{case_id}", headers=AUDITOR)
    assert audited["client"]["name"] == "withheld" and audited["reviews"][0]["notes"] == "withheld"
    reads = await api.get(f"/clients/{client_id}/reads", headers=AUDITOR)
    assert [(r["actor"], r["via"]) for r in reads] == [
        ("staff-1", f"GET /clients/{client_id}"), ("lead-1", f"GET /cases/{case_id}"),
        ("audit-1", f"GET /cases/{case_id}")]
    # health needs, goals and the consent's language are encrypted like the notes (v2 events): read and recorded alike
    opened = ["domains", "goals", "informed_in", "notes", "personal"]
    assert reads[1]["fields"] == opened and reads[1]["role"] == "team_lead"
    assert reads[2]["fields"] == [f"{f} (withheld)" for f in opened] and reads[2]["role"] == "auditor"
    assert audited["assessment"]["domains"] == "withheld" and audited["plans"][0]["goals"] == "withheld"
    r = await api.call("GET", f"/clients/{client_id}/reads")
    assert r.status_code == 403
    # the read log is hash-chained: rewriting who read it is found
    pool = api.app.state.runtime.pool
    report = await verify_chains(pool, f"access-{client_id}")
    assert report.ok and report.events == 3
    async with pool.acquire() as conn:
        await conn.execute("UPDATE events SET metadata = jsonb_set(metadata, '{actor}', '\"nobody\"') "
                           "WHERE stream_id = $1 AND version = 1", f"access-{client_id}")
    assert (await verify_chains(pool, f"access-{client_id}")).first_break.version == 1
