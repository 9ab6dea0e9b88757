"""Every error status of the API, each with a message that says what was wrong."""

from __future__ import annotations

import asyncio

import pytest
from kim_runtime.auth import Role

from .conftest import ADMIN, AUDITOR, MANAGER, OTHER_MANAGER, Api, token
from tests.bodies import ERASURE

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def test_401_without_or_with_a_bad_token(api: Api):
    r = await api.call("GET", "/cases", headers={})
    assert r.status_code == 401 and "bearer token is required" in r.json()["detail"]
    r = await api.call("GET", "/cases", headers={"Authorization": "Bearer not-a-jwt"})
    assert r.status_code == 401 and "not valid" in r.json()["detail"]


async def test_403_for_a_wrong_role_404_for_another_teams_client_or_case(api: Api):
    client_id = await api.client()
    case_id = await api.case(client_id)
    r = await api.call("POST", f"/cases/{case_id}/closure", json={"reason": "sonstiges"}, headers=AUDITOR)
    assert r.status_code == 403 and "role auditor may not" in r.json()["detail"]
    r = await api.call("POST", f"/clients/{client_id}/erasure", headers=MANAGER, json=ERASURE)
    assert r.status_code == 403
    partner = token(Role.PARTNER, sub="p", team=None, municipality=None, organisation="abh-unna")
    assert (await api.call("GET", f"/cases/{case_id}", headers=partner)).status_code == 403
    # another team's case or client: as if there were none (their existence is personal data)
    r = await api.call("GET", f"/cases/{case_id}", headers=OTHER_MANAGER)
    assert r.status_code == 404 and r.json()["detail"].startswith(f"no case {case_id} ")
    r = await api.call("GET", f"/clients/{client_id}", headers=OTHER_MANAGER)
    assert r.status_code == 404
    r = await api.call("POST", "/cases", headers=OTHER_MANAGER, json={
        "client_id": client_id, "municipality": "05978036", "team": "stadt", "team_organisation_id": "stadt-unna",
        "access_channel": "jobcenter"})
    assert r.status_code == 404
    # an own client, but a new case in another team's place: 403 naming both
    r = await api.call("POST", "/cases", json={
        "client_id": client_id, "municipality": "05978036", "team": "stadt", "team_organisation_id": "stadt-unna",
        "access_channel": "jobcenter"})
    assert r.status_code == 403 and "belongs to team stadt-unna" in r.json()["detail"]
    # same municipality, other team: in scope
    same_town = token(sub="staff-5", team="kreis-unna")
    await api.get(f"/cases/{case_id}", headers=same_town)


async def test_404_for_unknown_ids(api: Api):
    r = await api.call("GET", "/cases/no-such-case")
    assert r.status_code == 404 and "no case no-such-case" in r.json()["detail"]
    r = await api.call("GET", "/clients/no-such-client")
    assert r.status_code == 404
    r = await api.call("POST", "/cases", json={"client_id": "ghost", "municipality": "05978024", "team": "stadt",
                                                "team_organisation_id": "stadt-luenen", "access_channel": "jobcenter"})
    assert r.status_code == 404 and "no client ghost" in r.json()["detail"]
    r = await api.call("POST", "/cases", headers=ADMIN, json={
        "client_id": "ghost", "municipality": "05978024", "team": "stadt", "team_organisation_id": "stadt-luenen",
        "access_channel": "jobcenter"})
    assert r.status_code == 404 and "register the client first" in r.json()["detail"]
    case_id = await api.case(await api.client())
    r = await api.call("POST", f"/cases/{case_id}/goals/nope/achieved", json={})
    assert r.status_code == 404 and "no goal nope" in r.json()["detail"]
    r = await api.call("POST", f"/cases/{case_id}/consents/nope/withdrawal", json={})
    assert r.status_code == 404


async def test_409_for_broken_rules_with_the_reason(api: Api):
    case_id = await api.case(await api.client())
    r = await api.call("POST", f"/cases/{case_id}/plan", json={"goals": [
        {"goal_id": "g", "domain": "sprache", "target_date": "2026-01-01", "responsible_organisation_id": "vhs"}]})
    assert r.status_code == 409 and "needs the client's consent first" in r.json()["detail"]
    await api.post(f"/cases/{case_id}/closure", {"reason": "wegzug", "closed_on": "2025-02-01"})
    r = await api.call("POST", f"/cases/{case_id}/closure", json={"reason": "wegzug"})
    assert r.status_code == 409 and "cannot close it again" in r.json()["detail"]
    r = await api.call("POST", f"/cases/{case_id}/milestones", json={"milestone": "beschaeftigung_beginn"})
    assert r.status_code == 409 and "cannot record a milestone" in r.json()["detail"]


async def test_412_for_a_stale_if_match_also_for_the_loser_of_a_race(api: Api):
    case_id = await api.case(await api.client())
    r = await api.call("POST", f"/cases/{case_id}/pause", json={"reason": "krankheit"}, headers=MANAGER | {
        "If-Match": '"1"'})
    assert r.status_code == 200 and r.headers["ETag"] == '"2"'
    r = await api.call("POST", f"/cases/{case_id}/resume", json={}, headers=MANAGER | {"If-Match": '"1"'})
    assert r.status_code == 412 and r.json()["current_version"] == 2 and "reload it" in r.json()["detail"]
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"] == "urn:kim:problem:stale-precondition" and r.json()["instance"] == f"/cases/{case_id}/resume"
    bodies = [{"milestone": "sprachkurs_beginn"}, {"milestone": "wohnung_gefunden"}]
    results = await asyncio.gather(*(api.call("POST", f"/cases/{case_id}/milestones", json=b,
                                              headers=MANAGER | {"If-Match": '"2"'}) for b in bodies))
    assert sorted(r.status_code for r in results) == [201, 412]
    history = await api.get(f"/cases/{case_id}/history")
    assert [h["version"] for h in history] == [1, 2, 3]


async def test_422_names_the_field(api: Api):
    r = await api.call("POST", "/clients", json={"name": "", "birth_year": 1990, "date_of_birth": "1991-01-01"})
    fields = {e["field"] for e in r.json()["errors"]}
    assert r.status_code == 422 and {"name", "birth_year"} <= fields
    client_id = await api.client()
    r = await api.call("POST", "/cases", json={"client_id": client_id, "municipality": "Lünen", "team": "stadt",
                                                "team_organisation_id": "stadt-luenen", "access_channel": "jobcenter"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "municipality"
    case_id = await api.case(client_id)
    r = await api.call("POST", f"/cases/{case_id}/milestones", json={"milestone": "sprachzertifikat"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "language_level"
    r = await api.call("POST", f"/cases/{case_id}/pause", json={"reason": "krankheit"},
                       headers=MANAGER | {"If-Match": "yesterday"})
    assert r.status_code == 422 and "If-Match" in r.json()["detail"]


async def test_the_service_answers_health_readiness_metrics_and_openapi(api: Api):
    assert (await api.get("/healthz", headers={}))["status"] == "ok"
    ready = await api.call("GET", "/readyz", headers={})
    assert ready.json()["checks"]["database"] == "ok"
    assert "kim_events_published_total" in (await api.call("GET", "/metrics", headers={})).text
    paths = (await api.get("/openapi.json", headers={}))["paths"]
    assert "/cases/{case_id}/closure" in paths and "/clients/{client_id}/erasure" in paths
    assert (await api.call("GET", "/docs", headers={})).status_code == 200
    assert isinstance(await api.get("/cases", headers=ADMIN), list)
