"""Erasure an auditor can prove (issue 15): once a client is erased, nothing in the cases store or on kim.cases singles
them out. Birth year, languages and arrival year travel only inside the client's encrypted profile
(ClientRegistered v2; v3 without the bands v2 had in clear), the dates of a residence status only inside its encrypted dates (ResidenceStatusRecorded v3),
so destroying the key leaves the casework codes, never the values themselves.
Checked on the raw stored JSON and the raw Kafka records, leaf by leaf."""

from __future__ import annotations

import json

import asyncpg
import pytest

from .conftest import AUDITOR, TEAM_LEAD, Api
from .kafka_tail import eventually, records_of
from tests.bodies import ERASURE

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

# values nothing else in the tests uses, so finding one means it came from this client
BIRTH, BIRTH_YEAR, ARRIVAL_YEAR, LANGUAGES = "1937-05-11", 1937, 2003, ["prs", "ti"]
STATUS_SINCE, VALID_UNTIL = "2004-02-17", "2027-08-31"  # exact dates of a permit: ResidenceStatusRecorded v3
TARGET = "2031-03-17"  # a goal's target date: IntegrationPlanAgreed v2
HEALTH_NEEDS = [{"domain": "gesundheit", "need": "hoch", "resources": "gering"},
                {"domain": "sprache", "need": "mittel", "resources": "mittel"}]
GOALS = [{"goal_id": "g1", "domain": "gesundheit", "target_date": TARGET, "responsible_organisation_id": "awo"}]


def _leaves(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v)
    else:
        yield value


def _identifying(leaves) -> set:
    """The leaves that give a value of the client away (the number or its text, a language code, the birth date)."""
    needles = {BIRTH_YEAR, ARRIVAL_YEAR, str(BIRTH_YEAR), str(ARRIVAL_YEAR), *LANGUAGES}
    dates = (BIRTH, STATUS_SINCE, VALID_UNTIL, TARGET)
    return {leaf for leaf in leaves if leaf in needles or (isinstance(leaf, str) and any(d in leaf for d in dates))}


def _life_domains(value) -> list:
    """Needs or goals per life domain (health among them: Art. 9) anywhere in the value, in clear."""
    if isinstance(value, dict):
        return [value] * ("domain" in value) + [d for v in value.values() for d in _life_domains(v)]
    if isinstance(value, list):
        return [d for v in value for d in _life_domains(v)]
    return []


async def test_after_erasure_no_stored_row_and_no_topic_record_holds_what_singles_the_client_out(
        api: Api, fresh_db: str, kafka_bootstrap: str):
    client_id = await api.client("Parwin Tesfamariam", date_of_birth=BIRTH, languages=LANGUAGES,
                                 arrival_year=ARRIVAL_YEAR)
    case_id = await api.case(client_id)
    await api.consent(case_id, informed_in="ti")
    await api.post(f"/cases/{case_id}/assessment", {"assessed_on": "2025-01-12", "rechtskreis": "SGB_II",
                                                    "domains": HEALTH_NEEDS})
    await api.post(f"/cases/{case_id}/plan", {"agreed_on": "2025-01-15", "goals": GOALS}, expect=201)
    await api.post(f"/cases/{case_id}/reviews", {"held_on": "2025-03-01", "notes": "Notiz"}, expect=201)
    before = await api.get(f"/cases/{case_id}")  # the case manager sees all of it in clear before the erasure
    assert before["assessment"]["domains"] == HEALTH_NEEDS and before["consents"][0]["informed_in"] == "ti"
    assert [{k: g[k] for k in GOALS[0]} for g in before["goals"]] == GOALS and before["plans"][0]["goals"] == GOALS
    await api.post(f"/cases/{case_id}/residence-status", {"status": "duldung_60a", "status_since": STATUS_SINCE,
                                                          "valid_until": VALID_UNTIL, "perspective": "gelb"})
    residence = (await api.get(f"/cases/{case_id}"))["residence_status"]
    assert (residence["status"], residence["status_since"], residence["valid_until"]) == (
        "duldung_60a", STATUS_SINCE, VALID_UNTIL)
    shown = await api.get(f"/clients/{client_id}")  # the case manager still sees them in clear before the erasure
    assert (shown["birth_year"], shown["languages"], shown["arrival_year"]) == (BIRTH_YEAR, LANGUAGES, ARRIVAL_YEAR)
    assert (shown["birth_band"], shown["arrival_band"]) == ("1930-1939", "2000-2004")
    await api.post(f"/clients/{client_id}/erasure", ERASURE, headers=TEAM_LEAD | {"If-Match": '"1"'})

    conn = await asyncpg.connect(fresh_db)
    try:
        async def relayed():
            return await conn.fetchval("SELECT count(*) = 0 FROM outbox WHERE sent_at IS NULL")

        await eventually(relayed)
        rows = await conn.fetch("SELECT data::text AS data, metadata::text AS meta FROM events "
                                "WHERE stream_id = ANY($1) OR data::text LIKE '%' || $2 || '%'",
                                [client_id, case_id], client_id)
    finally:
        await conn.close()
    stored = [json.loads(r["data"]) for r in rows] + [json.loads(r["meta"]) for r in rows]
    records = await records_of(kafka_bootstrap, "kim.cases", {client_id, case_id}, at_least=8)
    wire = [json.loads(m.value) for m in records] + [{k: v.decode() for k, v in m.headers} for m in records]

    registered = next(d for d in stored if d.get("client_id") == client_id and "profile" in d)
    assert "birth_band" not in registered and "arrival_band" not in registered  # ClientRegistered v3: no bands
    assert len(stored) >= 16 and len(wire) == 16, "the client's history is all there"
    assert _identifying(_leaves(stored)) == set(), "in the store"
    assert _identifying(_leaves(wire)) == set(), "on kim.cases"
    assert _life_domains(stored) == [] and _life_domains(wire) == [], "health needs and goals only encrypted"
    erased = await api.get(f"/clients/{client_id}")
    assert (erased["birth_year"], erased["languages"], erased["arrival_year"]) == ("erased",) * 3
    assert (erased["birth_band"], erased["arrival_band"]) == ("erased",) * 2  # computed from the profile, gone too
    residence = (await api.get(f"/cases/{case_id}"))["residence_status"]
    assert (residence["status"], residence["status_since"], residence["valid_until"]) == (
        "duldung_60a", "erased", "erased")  # the code stays for reporting and the consent gate
    case = await api.get(f"/cases/{case_id}")
    assert (case["assessment"]["domains"], case["assessment"]["rechtskreis"]) == ("erased", "SGB_II")
    assert case["plans"][0]["goals"] == "erased" and case["plans"][0]["goal_ids"] == ["g1"]
    assert [(g["goal_id"], g["domain"], g["status"]) for g in case["goals"]] == [("g1", "erased", "agreed")]
    history = await api.get(f"/cases/{case_id}/history")
    assert _life_domains(history) == [] and _identifying(_leaves(history)) == set()


def test_the_needles_are_found_where_they_are():
    """The check itself finds each value (a check that cannot fail proves nothing)."""
    assert _identifying(_leaves({"a": [BIRTH_YEAR], "b": {"c": "ti"}, "d": f"{BIRTH}T00:00", "e": VALID_UNTIL})) == {
        BIRTH_YEAR, "ti", f"{BIRTH}T00:00", VALID_UNTIL}
    assert _identifying(_leaves({"birth_band": "1930-1939", "status": "duldung_60a"})) == set()
    assert _life_domains({"x": [{"y": HEALTH_NEEDS}]}) == HEALTH_NEEDS
    assert _life_domains({"data_categories": ["gesundheit"], "rechtskreis": "SGB_II"}) == []


async def test_an_erased_clients_consents_are_shown_as_ended(api: Api):
    """The stranger's probe: after the erasure the case still showed its consent 'active', has_valid_consent true,
    and the language the client was informed in."""
    client_id = await api.client("Nadia Erased")
    case_id = await api.case(client_id)
    await api.consent(case_id, informed_in="ti")
    before = await api.get(f"/cases/{case_id}")
    assert before["has_valid_consent"] and before["consents"][0]["status"] == "active"
    assert before["consents"][0]["informed_in"] == "ti"  # the case manager sees it
    audited = await api.get(f"/cases/{case_id}", headers=AUDITOR)
    assert audited["consents"][0]["informed_in"] == "withheld"  # like the client's languages
    await api.post(f"/clients/{client_id}/erasure", ERASURE, headers=TEAM_LEAD | {"If-Match": '"1"'})
    case = await api.get(f"/cases/{case_id}")
    ledger = await api.get(f"/clients/{client_id}/consents")
    assert case["has_valid_consent"] is False
    for consent in case["consents"] + ledger:
        assert (consent["status"], consent["informed_in"]) == ("erased", "erased")


# dates of this client's casework that no other test uses (kim_schemas.sealing seals them per client)
OPENED_ON, GRANTED_ON, VALID_TO, ASSESSED_ON, PAUSED_ON, RESUMED_ON, CLOSED_ON = (
    "2019-07-23", "2019-07-24", "2029-07-31", "2019-08-02", "2019-09-05", "2019-10-01", "2019-11-29")
SEALED_DATES = (OPENED_ON, GRANTED_ON, VALID_TO, ASSESSED_ON, PAUSED_ON, RESUMED_ON, CLOSED_ON)
CHANNEL, PAUSE_REASON = "aufsuchend", "krankheit"


def _raw(value: str) -> set[str]:
    """Which of the client's sealed dates and codes the raw text holds in clear."""
    return {needle for needle in (*SEALED_DATES, CHANNEL, PAUSE_REASON) if needle in value}


async def test_the_dates_and_codes_of_a_case_are_sealed_in_the_store_and_on_the_topic_and_gone_with_the_key(
        api: Api, fresh_db: str, kafka_bootstrap: str):
    client_id = await api.client("Sealed Client")
    case_id = await api.case(client_id, access_channel=CHANNEL, opened_on=OPENED_ON)
    await api.consent(case_id, granted_on=GRANTED_ON, valid_until=VALID_TO)
    await api.post(f"/cases/{case_id}/assessment", {"assessed_on": ASSESSED_ON, "rechtskreis": "SGB_II",
                                                    "domains": HEALTH_NEEDS})
    await api.post(f"/cases/{case_id}/pause", {"reason": PAUSE_REASON, "paused_on": PAUSED_ON})
    await api.post(f"/cases/{case_id}/resume", {"resumed_on": RESUMED_ON})
    shown = await api.get(f"/cases/{case_id}")  # the cases service opens them when it loads the case
    assert (shown["opened_on"], shown["access_channel"], shown["consents"][0]["granted_on"],
            shown["consents"][0]["valid_until"], shown["assessment"]["assessed_on"]) == (
        OPENED_ON, CHANNEL, GRANTED_ON, VALID_TO, ASSESSED_ON)
    history = await api.get(f"/cases/{case_id}/history")
    assert _raw(json.dumps(history)) == set(SEALED_DATES[:-1]) | {CHANNEL, PAUSE_REASON}

    conn = await asyncpg.connect(fresh_db)
    try:
        async def stored_text() -> str:
            rows = await conn.fetch("SELECT data::text || metadata::text AS t FROM events WHERE stream_id = $1",
                                    case_id)
            return "\n".join(r["t"] for r in rows)

        assert _raw(await stored_text()) == set(), "sealed in the store before the erasure too"
        await api.post(f"/clients/{client_id}/erasure", ERASURE, headers=TEAM_LEAD | {"If-Match": '"1"'})
        await api.post(f"/cases/{case_id}/closure", {"reason": "wegzug", "closed_on": CLOSED_ON},
                       headers=TEAM_LEAD)  # a closure after the erasure is sealed under a key never kept

        async def relayed():
            return await conn.fetchval("SELECT count(*) = 0 FROM outbox WHERE sent_at IS NULL")

        await eventually(relayed)
        stored = await stored_text()
        closure = await conn.fetchval("SELECT data FROM events WHERE stream_id = $1 AND type = $2", case_id,
                                      "kim.cases.CaseClosed")
    finally:
        await conn.close()
    records = await records_of(kafka_bootstrap, "kim.cases", {case_id}, at_least=6)
    wire = "\n".join(m.value.decode() + json.dumps({k: v.decode() for k, v in m.headers}) for m in records)
    assert len(records) == 6 and _raw(stored) == set() and _raw(wire) == set()
    assert json.loads(closure)["sealed"]["key_id"] == "shredded"
    # what stays in clear, by design: ids, the team, its organisation, the case manager, municipality, Baustein
    assert '"municipality": "05978024"' in stored and '"team_organisation_id": "stadt-luenen"' in stored
    erased = await api.get(f"/cases/{case_id}")
    assert (erased["opened_on"], erased["access_channel"], erased["consents"][0]["granted_on"],
            erased["closure"]["closed_on"], erased["assessment"]["assessed_on"]) == ("erased",) * 5
    assert _raw(json.dumps(await api.get(f"/cases/{case_id}/history"))) == set()


def test_the_raw_check_finds_each_sealed_value():
    assert _raw(f'{{"opened_on": "{OPENED_ON}", "access_channel": "{CHANNEL}"}}') == {OPENED_ON, CHANNEL}
    assert _raw('{"municipality": "05978024", "sealed": {"key_id": "k"}}') == set()
