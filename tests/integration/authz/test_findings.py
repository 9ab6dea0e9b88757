"""What was found with the demo tokens, each as the request that showed it, against the real services."""

from __future__ import annotations

import statistics
import time
import uuid

import pytest
from kim_runtime.auth import Principal, Role
from kim_runtime.http import NOT_FOUND_FLOOR_S

from .conftest import (ADMIN, FOREIGN_MANAGER, FOREIGN_PLACE, OWN_MANAGER, OWN_PLACE, Kreis, Services, bearer, ok,
                       partner_token, staff)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

KREIS_PLACE = {"municipality": "05978036", "team": "kreis", "team_organisation_id": "kreis-unna"}
KREIS_MANAGER = staff(Role.CASE_MANAGER, "cm-kreis", KREIS_PLACE)
KREIS_LEAD = bearer(Principal(sub="lead-kreis-unna", role=Role.TEAM_LEAD, team="kreis-unna"))  # as in the demo


async def test_a_client_another_team_serves_is_taken_over_by_transfer_not_by_opening_a_case(services: Services):
    kreis = Kreis(services)
    client_id, case_id = await kreis.client_with_case(KREIS_MANAGER, KREIS_PLACE, "Leyla Demir")
    opened = await services.cases.post("/cases", headers=OWN_MANAGER, json={
        "client_id": client_id, "access_channel": "selbstmeldung", **OWN_PLACE})
    unknown = await services.cases.post("/cases", headers=OWN_MANAGER, json={
        "client_id": "00000000-0000-4000-8000-000000000000", "access_channel": "selbstmeldung", **OWN_PLACE})
    assert (opened.status_code, unknown.status_code) == (404, 404), opened.text
    assert opened.json()["detail"].replace(client_id, "X") == unknown.json()["detail"].replace(
        "00000000-0000-4000-8000-000000000000", "X")  # a foreign client looks like no client
    for path in (f"/clients/{client_id}", f"/clients/{client_id}/history", f"/clients/{client_id}/consents",
                 f"/cases/{case_id}"):
        r = await services.cases.get(path, headers=OWN_MANAGER)
        assert r.status_code == 404 and "Leyla" not in r.text, (path, r.status_code)

    await ok(await services.cases.post(f"/cases/{case_id}/transfer", headers=KREIS_MANAGER, json={
        "case_manager_id": "cm-luenen", **OWN_PLACE}))  # the recorded handover
    client = await ok(await services.cases.get(f"/clients/{client_id}", headers=OWN_MANAGER))
    assert client["personal"]["name"] == "Leyla Demir"
    assert (await services.cases.get(f"/clients/{client_id}", headers=KREIS_MANAGER)).status_code == 200, \
        "the registering team may still act for the client"


async def test_a_case_transferred_away_is_out_of_the_registering_teams_reach_and_no_second_case_opens(
        services: Services):
    kreis = Kreis(services)
    client_id, case_id = await kreis.client_with_case(OWN_MANAGER, OWN_PLACE, "Nadia Rahimi")
    consent_id = await kreis.consent(OWN_MANAGER, case_id, "abh-unna")
    await ok(await services.cases.post(f"/cases/{case_id}/transfer", headers=OWN_MANAGER, json={
        "case_manager_id": "cm-unna", **FOREIGN_PLACE}))
    marks = (case_id, consent_id, FOREIGN_PLACE["team_organisation_id"], FOREIGN_PLACE["municipality"])

    client = await ok(await services.cases.get(f"/clients/{client_id}", headers=OWN_MANAGER))
    assert client["personal"]["name"] == "Nadia Rahimi", "the registering team still acts for the client"
    assert client["case_ids"] == [], "the other team's case is not listed"
    ledger = await services.cases.get(f"/clients/{client_id}/consents", headers=OWN_MANAGER)
    assert ledger.status_code == 200 and ledger.json() == [], ledger.text
    for method, path, body in (("GET", f"/cases/{case_id}", None), ("GET", f"/cases/{case_id}/history", None),
                               ("POST", f"/cases/{case_id}/pause", {"reason": "krankheit"})):
        r = await services.cases.request(method, path, headers=OWN_MANAGER, json=body)
        assert r.status_code == 404, (method, path, r.status_code, r.text)

    second = {"client_id": client_id, "access_channel": "selbstmeldung", **OWN_PLACE}
    refused = await services.cases.post("/cases", headers=OWN_MANAGER, json=second)
    assert refused.status_code == 409, refused.text
    assert "another team" in refused.json()["detail"] and "transfer" in refused.json()["detail"]
    assert not [m for m in marks if m in refused.text], refused.text

    served = await ok(await services.cases.get(f"/clients/{client_id}", headers=FOREIGN_MANAGER))
    assert served["case_ids"] == [case_id], "the serving team sees its case"
    await ok(await services.cases.post(f"/cases/{case_id}/closure", headers=FOREIGN_MANAGER, json={
        "reason": "wegzug"}))
    reopened = await ok(await services.cases.post("/cases", headers=OWN_MANAGER, json=second), 201)
    client = await ok(await services.cases.get(f"/clients/{client_id}", headers=OWN_MANAGER))
    assert client["case_ids"] == [reopened["case_id"]], "once the other case is closed, a case of their own opens"


async def test_staffing_scopes_cases_like_the_cases_service_and_partners_reach_none_of_it(services: Services):
    kreis = Kreis(services)
    _, case_id = await kreis.client_with_case(OWN_MANAGER, OWN_PLACE, "Amina Haddad")
    await kreis.known_downstream(case_id, await kreis.consent(OWN_MANAGER, case_id, "abh-unna"))

    reassigned = await services.staffing.put(f"/cases/{case_id}/case-manager", headers=KREIS_LEAD,
                                             json={"staff_member_id": "cm-kreis"})
    assert reassigned.status_code == 404, reassigned.text
    assert (await services.cases.get(f"/cases/{case_id}", headers=KREIS_LEAD)).status_code == 404
    assert (await services.staffing.get(f"/cases/{case_id}", headers=KREIS_LEAD)).status_code == 404
    own_lead = staff(Role.TEAM_LEAD, "lead-luenen", OWN_PLACE)
    assert (await services.staffing.put(f"/cases/{case_id}/case-manager", headers=own_lead,
                                        json={"staff_member_id": "cm-luenen-2"})).status_code == 200

    partner = partner_token("jobcenter-kreis-unna")
    for path in ("/caseloads", "/caseloads/per-vza", "/positions", "/grants", f"/cases/{case_id}",
                 "/reports/funded-vs-filled?period_from=2025-01-01&period_to=2025-12-31"):
        r = await services.staffing.get(path, headers=partner)
        assert r.status_code == 403, (path, r.status_code, r.text)


async def test_an_auditors_look_at_a_client_is_recorded_like_any_read_of_personal_data(services: Services):
    kreis = Kreis(services)
    client_id, case_id = await kreis.client_with_case(OWN_MANAGER, OWN_PLACE, "Amina Haddad")
    auditor = bearer(Principal(sub="pruefung-1", role=Role.AUDITOR))
    seen = await ok(await services.cases.get(f"/clients/{client_id}", headers=auditor))
    assert seen["personal"]["name"] == "withheld"
    await ok(await services.cases.get(f"/cases/{case_id}", headers=auditor))
    reads = await ok(await services.cases.get(f"/clients/{client_id}/reads", headers=ADMIN))
    by_auditor = [r for r in reads if r["actor"] == "pruefung-1"]
    assert [r["via"] for r in by_auditor] == [f"GET /clients/{client_id}", f"GET /cases/{case_id}"]
    assert all(r["role"] == "auditor" for r in by_auditor)
    assert (await services.cases.post(f"/cases/{case_id}/pause", headers=auditor,
                                      json={"reason": "krankheit"})).status_code == 403


async def test_a_foreign_client_or_case_takes_as_long_to_refuse_as_one_that_does_not_exist(services: Services):
    """Benchmark-style: the same 404 for a foreign and a missing id, and (the runtime's 404 floor) the same time.
    Prints p10/p50/p90 per path; asserts only what holds under any load: no 404 sooner than the floor, and the
    foreign and the missing spread overlap."""
    client_id, case_id = await Kreis(services).client_with_case(FOREIGN_MANAGER, FOREIGN_PLACE, "Oleksandr K.")
    rounds, report = 40, []
    for kind, foreign in (("clients", client_id), ("cases", case_id)):
        took: dict[str, list[float]] = {"foreign": [], "missing": []}
        for _ in range(rounds):  # interleaved, so both see the same load
            for which, ident in (("foreign", foreign), ("missing", str(uuid.uuid4()))):
                started = time.perf_counter()
                r = await services.cases.get(f"/{kind}/{ident}", headers=OWN_MANAGER)
                took[which].append(time.perf_counter() - started)
                assert r.status_code == 404, r.text
        cut = {which: statistics.quantiles(seconds, n=10) for which, seconds in took.items()}
        for which, deciles in cut.items():
            report.append(f"GET /{kind}/{{id}} {which}: p10 {deciles[0] * 1000:.2f} ms, p50 {deciles[4] * 1000:.2f} "
                          f"ms, p90 {deciles[8] * 1000:.2f} ms")
            assert min(took[which]) >= NOT_FOUND_FLOOR_S, (kind, which, min(took[which]))
        assert cut["foreign"][0] <= cut["missing"][8] and cut["missing"][0] <= cut["foreign"][8], report
    print("\n" + "\n".join(report))
