"""A grant staffed through the HTTP API on the real stack: rules refused with clear messages, versions, roles."""

from __future__ import annotations

import asyncio

import pytest
from kim_runtime.auth import Role

from .conftest import token, uid

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

LEAD, ADMIN, CM = token(Role.TEAM_LEAD), token(Role.ADMIN), token(Role.CASE_MANAGER)
LUENEN, UNNA = "05978024", "05978036"


def grant_body(grant_id: str, vza: str = "2.0") -> dict:
    return {"grant_id": grant_id, "baustein": "2", "period_from": "2025-01-01", "period_to": "2025-12-31",
            "vza": vza, "rate_per_vza": "56000.00", "reference": "51.2-KIM-2025"}


def position_body(position_id: str, grant_id: str | None, vza: str, municipality: str = LUENEN, **extra) -> dict:
    body = {"position_id": position_id, "baustein": "2", "vza": vza, "host_organisation_id": "kreis-unna",
            "municipality": municipality, "funding_source": "kim_land" if grant_id else "anderes_programm",
            "grant_id": grant_id, "valid_from": "2025-01-01"}
    return body | extra


async def test_a_grant_is_staffed_and_reported_time_weighted(api):
    grant = uid("grant")
    r = await api.post("/grants", json=grant_body(grant), headers=LEAD)
    assert r.status_code == 201, r.text
    assert r.json()["annual_amount"] == "112000.00" and r.headers["ETag"] == '"1"'

    p1, p2, p3 = uid("pos"), uid("pos"), uid("pos")
    assert (await api.post("/positions", json=position_body(p1, grant, "1.0"), headers=LEAD)).status_code == 201
    assert (await api.post("/positions", json=position_body(p2, grant, "0.5", UNNA), headers=ADMIN)).status_code == 201
    too_big = await api.post("/positions", json=position_body(p3, grant, "1.0"), headers=LEAD)
    assert too_big.status_code == 409
    assert "funds 2.0 VZÄ" in too_big.json()["detail"] and "at most 0.5 VZÄ" in too_big.json()["detail"]
    # the same 1.0 fits once p2 has ended: capacity is checked day by day
    later = position_body(p3, grant, "1.0", valid_from="2025-07-01")
    assert (await api.post("/positions", json=later, headers=LEAD)).status_code == 409
    r = await api.post("/positions/" + p2 + "/vacate", json={}, headers=LEAD)
    assert r.status_code == 422

    r = await api.post(f"/positions/{p1}/fill", json={"staff_member_id": "staff-a", "vza_share": "0.75",
                                                      "filled_on": "2025-01-01"}, headers={**LEAD, "If-Match": '"1"'})
    assert r.status_code == 200, r.text
    assert r.headers["ETag"] == '"2"' and r.json()["occupancies"][0]["vza_share"] == "0.75"
    over = await api.post(f"/positions/{p1}/fill", json={"staff_member_id": "staff-b", "vza_share": "0.5",
                                                         "filled_on": "2025-03-01"}, headers=LEAD)
    assert over.status_code == 409 and "at most 0.25 VZÄ" in over.json()["detail"]
    stale = await api.post(f"/positions/{p1}/vacate", json={"staff_member_id": "staff-a", "vacated_on": "2025-07-01",
                                                            "reason": "kuendigung"}, headers={**LEAD, "If-Match": '"1"'})
    assert stale.status_code == 412 and stale.json()["current_version"] == 2
    r = await api.post(f"/positions/{p1}/vacate", json={"staff_member_id": "staff-a", "vacated_on": "2025-07-01",
                                                        "reason": "kuendigung"}, headers={**LEAD, "If-Match": '"2"'})
    assert r.status_code == 200, r.text
    outside = await api.post(f"/positions/{p1}/fill", json={"staff_member_id": "staff-c", "vza_share": "1.0",
                                                            "filled_on": "2026-01-05"}, headers=LEAD)
    assert outside.status_code == 409 and "outside grant" in outside.json()["detail"]

    report = await api.get("/reports/funded-vs-filled", params={"period_from": "2025-01-01",
                                                                "period_to": "2025-12-31"}, headers=CM)
    assert report.status_code == 200
    rows = {(r["municipality"], r["baustein"]): r for r in report.json()["rows"]}
    luenen = rows[(LUENEN, "2")]
    # 0.75 VZÄ filled for the 181 days of January to June, of 365
    assert luenen["funded_vza"] == "1.000" and luenen["grant_funded_vza"] == "1.000"
    assert luenen["filled_vza"] == "0.372" and luenen["vacant_vza"] == "0.628"
    assert luenen["filled_vza_days"] == "135.75"
    assert rows[(UNNA, "2")]["filled_vza"] == "0.000"

    detail = await api.get(f"/positions/{p1}", params={"history": "true"}, headers=CM)
    assert [e["type"].rsplit(".", 1)[1] for e in detail.json()["history"]] == [
        "PositionEstablished", "PositionFilled", "PositionVacated"]
    assert detail.json()["history"][1]["actor"] == "team_lead-1"


async def test_dates_outside_the_grant_and_a_taken_over_position(api):
    grant = uid("grant")
    await api.post("/grants", json=grant_body(grant, "1.0"), headers=LEAD)
    early = await api.post("/positions", json=position_body(uid("pos"), grant, "0.5", valid_from="2024-10-01"),
                           headers=LEAD)
    assert early.status_code == 409 and "valid_from 2024-10-01 lies outside grant" in early.json()["detail"]

    old = uid("pos")
    body = position_body(old, None, "1.0", valid_from="2024-01-01", host_organisation_id="awo-unna")
    assert (await api.post("/positions", json=body, headers=LEAD)).status_code == 201
    r = await api.post(f"/positions/{old}/fill", json={"staff_member_id": "staff-x", "vza_share": "1.0",
                                                       "filled_on": "2024-01-01"}, headers=LEAD)
    assert r.status_code == 200
    taken = await api.post(f"/positions/{old}/transfer", json={"from_programme": "Einwanderung gestalten NRW",
                                                               "grant_id": grant, "transferred_on": "2025-04-01"},
                           headers=LEAD)
    assert taken.status_code == 200, taken.text
    assert taken.json()["grant_id"] == grant and taken.json()["funded_from"] == "2025-04-01"
    report = await api.get("/reports/funded-vs-filled", params={"period_from": "2025-01-01", "period_to": "2025-12-31",
                                                                "municipality": LUENEN}, headers=LEAD)
    (row,) = report.json()["rows"]
    assert row["funded_vza"] == "1.000" and row["filled_vza"] == "1.000"
    assert row["grant_funded_vza"] == "0.753"  # 275 of 365 days
    full = await api.post("/positions", json=position_body(uid("pos"), grant, "0.5", valid_from="2025-06-01"),
                          headers=LEAD)
    assert full.status_code == 409


async def test_roles_and_error_answers(api):
    assert (await api.get("/grants")).status_code == 401
    assert (await api.get("/grants", headers={"Authorization": "Bearer nonsense"})).status_code == 401
    refused = await api.post("/grants", json=grant_body(uid("grant")), headers=CM)
    assert refused.status_code == 403 and "team_lead" in refused.json()["detail"]
    assert (await api.get("/grants", headers=token(Role.AUDITOR))).status_code == 200
    missing = await api.get(f"/positions/{uid('nope')}", headers=CM)
    assert missing.status_code == 404
    bad = await api.post("/grants", json=grant_body(uid("grant")) | {"vza": "-1", "period_to": "2024-01-01"},
                         headers=LEAD)
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"vza", "period_to"}
    unknown_grant = await api.post("/positions", json=position_body(uid("pos"), uid("grant"), "1.0"), headers=LEAD)
    assert unknown_grant.status_code == 404 and "award it first" in unknown_grant.json()["detail"]
    grant = uid("grant")
    assert (await api.post("/grants", json=grant_body(grant), headers=LEAD)).status_code == 201
    again = await api.post("/grants", json=grant_body(grant), headers=LEAD)
    assert again.status_code == 409 and "exists already" in again.json()["detail"]
    wrong_source = await api.post("/positions", json=position_body(uid("pos"), None, "1.0") | {
        "funding_source": "kim_land"}, headers=LEAD)
    assert wrong_source.status_code == 409 and "grant_id" in wrong_source.json()["detail"]


async def test_concurrent_positions_on_one_grant_cannot_overbook_it(api):
    grant = uid("grant")
    await api.post("/grants", json=grant_body(grant, "1.5"), headers=LEAD)
    bodies = [position_body(uid("pos"), grant, "1.0", municipality=m) for m in (LUENEN, UNNA, LUENEN, UNNA)]
    answers = await asyncio.gather(*(api.post("/positions", json=b, headers=LEAD) for b in bodies))
    assert sorted(r.status_code for r in answers) == [201, 409, 409, 409]
    listed = await api.get("/positions", params={"grant_id": grant}, headers=CM)
    assert [p["vza"] for p in listed.json()] == ["1.0"]
    same = position_body(uid("pos"), None, "1.0")
    twice = await asyncio.gather(*(api.post("/positions", json=same, headers=LEAD) for _ in range(2)))
    assert sorted(r.status_code for r in twice) == [201, 409]
