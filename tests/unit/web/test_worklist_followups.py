"""The worklist page shows the services' follow-ups (Wiedervorlagen): overdue first, then the week, linked to the
case; only to roles that work cases; 'nur meine Fälle' asks for the caller's own."""

from __future__ import annotations

import httpx
import pytest

from .fakes import FakeServices, client, sign_in

OVERDUE = {"kind": "referral_overdue", "case_id": "case-7a", "referral_id": "r-1", "due_on": "2026-11-20",
           "fell_due": True, "case_manager_id": "cm-2", "days_overdue": 13}
TODAY = {"kind": "review", "case_id": "case-8b", "referral_id": None, "due_on": "2026-12-03", "fell_due": True,
         "case_manager_id": "case_manager-1", "days_overdue": 0}


class WorklistFakes(FakeServices):
    """The cases service's /worklist answering by `due`."""

    def __init__(self, overdue: list[dict] = (), week: list[dict] = ()):
        super().__init__()
        self.due = {"overdue": list(overdue), "week": list(week)}

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path != "/worklist":
            return super().handle(request)
        self.calls.append(request)
        return httpx.Response(200, json={"items": self.due[request.url.params["due"]]})


@pytest.mark.parametrize("mine, whose", [(False, "team"), (True, "mine")])
def test_overdue_and_due_follow_ups_are_listed_oldest_first_with_what_and_the_case(mine, whose):
    fakes = WorklistFakes([OVERDUE], [TODAY])
    with client(fakes) as web:
        sign_in(web, "case_manager", team="stadt-unna", municipality="05978036")
        page = web.get("/?meine=1" if mine else "/").text
    asked = [c.url.params for c in fakes.calls if c.url.path == "/worklist"]
    assert [(p["due"], p["whose"]) for p in asked] == [("overdue", whose), ("week", whose)]
    assert "Wiedervorlagen" in page and "(2)" in page
    assert page.index("Vermittlung ohne Antwort des Partners") < page.index("Überprüfung des Hilfeplans")
    assert "überfällig seit 13 Tagen" in page and 'href="/faelle/case-7a"' in page
    assert "20.11.2026" in page and "heute" in page


def test_nothing_due_says_so():
    with client(WorklistFakes()) as web:
        sign_in(web, "team_lead", team="stadt-unna", municipality="05978036")
        page = web.get("/").text
    assert "Nichts fällig in den nächsten sieben Tagen" in page


@pytest.mark.parametrize("role, shown", [("case_manager", True), ("team_lead", True), ("admin", True),
                                         ("auditor", False)])
def test_only_roles_that_work_cases_get_the_follow_ups(role, shown):
    fakes = WorklistFakes()
    with client(fakes) as web:
        sign_in(web, role, team="stadt-unna", municipality="05978036")
        page = web.get("/").text
    assert ("Wiedervorlagen" in page) is shown
    assert any(c.url.path == "/worklist" for c in fakes.calls) is shown


@pytest.mark.parametrize("marker, shown", [("erased", "gelöscht"), ("withheld", "nicht einsehbar")])
def test_a_case_page_shows_encrypted_needs_goals_and_language_as_erased_or_not_visible(marker, shown):
    """Health needs, goals and the consent's language come from the cases service as "erased" (key destroyed) or
    "withheld" (role) since the v2 events: the page says so in German instead of listing letters or codes."""
    from .fakes import CASE

    fakes = FakeServices()
    case = CASE | {
        "assessment": {"assessed_on": "2025-03-04", "rechtskreis": "SGB_II", "domains": marker},
        "goals": [{"goal_id": "g1", "domain": marker, "target_date": marker, "responsible_organisation_id": marker,
                   "plan_id": "p-1", "status": "agreed", "on": None}],
        "consents": [CASE["consents"][0] | {"informed_in": marker}]}
    fakes.on("GET", "http://cases/cases/case-1", 200, case, headers={"ETag": '"3"'})
    with client(fakes) as web:
        sign_in(web, "auditor")
        page = web.get("/faelle/case-1").text
    assert f"Bedarfe und Ressourcen je Lebensbereich: {shown}." in page
    assert page.count(f"<td>{shown}</td>") == 3  # the goal's domain, target date and organisation
    assert f"Sprache {shown}" in page and marker not in page.split("<main", 1)[1]  # no raw marker on the page
