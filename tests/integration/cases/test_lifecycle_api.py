"""A case from intake to closure through the API alone; events leave through the outbox to kim.cases."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from .conftest import LUENEN, TEAM_LEAD, Api
from .kafka_tail import eventually, records_of

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

GOALS = [{"goal_id": "g-lang", "domain": "sprache", "target_date": "2025-12-31", "responsible_organisation_id": "vhs-unna"},
         {"goal_id": "g-work", "domain": "arbeit", "target_date": "2026-06-30",
          "responsible_organisation_id": "jobcenter-unna"}]


async def test_a_case_goes_from_intake_to_closure_through_the_api(api: Api, kafka_bootstrap: str):
    client_id = await api.client()
    case_id = await api.case(client_id)
    base = f"/cases/{case_id}"
    consent_id = await api.consent(case_id, recipients=["abh-unna", "jobcenter-unna"],
                                   data_categories=["aufenthalt", "arbeit_qualifikation"])
    steps = [
        ("/residence-status", {"status": "duldung_60a", "status_since": "2024-08-01", "perspective": "rot",
                               "recorded_on": "2025-01-10"}),
        ("/assessment", {"assessed_on": "2025-01-20", "rechtskreis": "AsylbLG", "domains": [
            {"domain": "sprache", "need": "hoch", "resources": "gering"},
            {"domain": "arbeit", "need": "mittel", "resources": "mittel"}]}),
        ("/plan", {"goals": GOALS, "agreed_on": "2025-02-01"}),
        ("/reviews", {"held_on": "2025-04-01", "notes": "Kurs läuft gut", "next_review_on": "2025-07-01"}),
        ("/milestones", {"milestone": "sprachzertifikat", "language_level": "B1", "reached_on": "2025-06-20"}),
        ("/goals/g-lang/achieved", {"achieved_on": "2025-06-20"}),
        ("/residence-status", {"status": "ae_25b", "status_since": "2025-07-01", "perspective": "gruen",
                               "recorded_on": "2025-07-02", "valid_until": "2027-07-01"}),
        ("/rechtskreis", {"current": "SGB_II", "changed_on": "2025-07-02"}),
        ("/pause", {"reason": "auslandsaufenthalt", "paused_on": "2025-08-01", "expected_resume_on": "2025-09-01"}),
        ("/resume", {"resumed_on": "2025-09-02"}),
        ("/transfer", {"municipality": LUENEN, "team": "stadt", "team_organisation_id": "stadt-luenen",
                       "case_manager_id": "staff-2", "transferred_on": "2025-09-03"}),
        ("/goals/g-work/dropped", {"reason": "ersetzt", "dropped_on": "2025-10-01"}),
        ("/closure", {"reason": "ziele_erreicht", "closed_on": "2025-10-10"}),
    ]
    version = 2
    for path, body in steps:
        expect = 201 if path in ("/plan", "/reviews", "/milestones") else 200
        r = await api.call("POST", base + path, json=body, expect=expect, headers=None)
        assert r.headers["ETag"] == f'"{version + 1}"', path
        version += 1
    assert r.json()["closure"] == {"reason": "ziele_erreicht", "closed_on": "2025-10-10", "goals_agreed": 2,
                                   "goals_achieved": 1, "duration_days": 273}

    state = await api.get(base, params={"as_of": "2025-10-10"})
    assert state["phase"] == "closed" and state["version"] == version == 15
    assert state["client"]["name"] == "Amina Haddad"
    assert state["rechtskreis"] == "SGB_II" and state["residence_status"]["status"] == "ae_25b"
    assert [(g["goal_id"], g["status"]) for g in state["goals"]] == [("g-lang", "achieved"), ("g-work", "dropped")]
    assert state["reviews"][0]["notes"] == "Kurs läuft gut"
    assert state["consents"][0]["consent_id"] == consent_id and state["consents"][0]["status"] == "active"
    assert state["case_manager_id"] == "staff-2"

    history = await api.get(base + "/history")
    assert [h["version"] for h in history] == list(range(1, 16))
    assert history[0]["type"] == "kim.cases.CaseOpened" and history[-1]["type"] == "kim.cases.CaseClosed"
    assert {h["actor"] for h in history} == {"staff-1"}
    assert len({h["causation_id"] for h in history}) == 15  # one command each

    records = await records_of(kafka_bootstrap, "kim.cases", {client_id, case_id}, at_least=16)
    by_type = {dict(m.headers)["ce_type"].decode(): dict(m.headers) for m in records}
    assert by_type["kim.cases.ClientRegistered"]["ce_keyid"]
    assert by_type["kim.cases.CaseClosed"]["ce_subject"].decode() == client_id
    assert by_type["kim.cases.CaseClosed"]["ce_municipality"].decode() == LUENEN
    case_versions = [int(dict(m.headers)["ce_streamversion"]) for m in records if m.key.decode() == case_id]
    assert case_versions == list(range(1, 16))

    async def listed():
        rows = await api.get("/cases")
        return [r for r in rows if r["case_id"] == case_id and r["phase"] == "closed"]

    [row] = await eventually(listed)
    assert row["closure_reason"] == "ziele_erreicht" and row["version"] == 15


async def test_the_consent_ledger_shows_withdrawals_per_recipient_and_category(api: Api):
    client_id = await api.client()
    case_id = await api.case(client_id)
    consent_id = await api.consent(case_id, recipients=["abh-unna", "jobcenter-unna"],
                                   data_categories=["aufenthalt", "gesundheit"], special_categories=True,
                                   valid_until=(date.today() + timedelta(days=30)).isoformat())
    url = f"/cases/{case_id}/consents/{consent_id}/withdrawal"
    await api.post(url, {"scope": "empfaenger", "recipient": "abh-unna"})
    await api.post(url, {"scope": "kategorie", "data_category": "gesundheit"}, headers=TEAM_LEAD)
    [entry] = await api.get(f"/clients/{client_id}/consents")
    assert entry["recipients"] == ["jobcenter-unna"] and entry["data_categories"] == ["aufenthalt"]
    assert entry["special_categories"] is True and entry["recorded_by"] == "staff-1"
    assert [w["scope"] for w in entry["withdrawals"]] == ["empfaenger", "kategorie"]
    # a valid_until ahead: its expiry (ConsentExpired, recorded by the scheduler) cannot race these commands
    after = (date.today() + timedelta(days=31)).isoformat()
    state = await api.get(f"/cases/{case_id}", params={"as_of": after})
    assert state["consents"][0]["status"] == "expired" and state["has_valid_consent"] is False
    await api.post(url, {"scope": "alle"})
    [entry] = await api.get(f"/clients/{client_id}/consents")
    assert entry["status"] == "withdrawn"
