"""Command arguments for the Case aggregate, shared by the rule tests and the property tests."""

from __future__ import annotations

from datetime import UTC, date, datetime

from kim_schemas import cases as ev
from kim_schemas.case_codes import AccessChannel, ConsentForm, TeamKind
from kim_schemas.codes import Baustein, ConsentPurpose, DataCategory, LifeDomain, Rechtskreis

from kim_cases.domain import Case

OPENED = date(2025, 1, 10)


def opening(**over) -> dict:
    return {"client_id": "c-1", "municipality": "05978024", "baustein": Baustein.CASE_MANAGEMENT,
            "team": TeamKind.CITY, "team_organisation_id": "stadt-luenen", "case_manager_id": "staff-1",
            "access_channel": AccessChannel.JOBCENTER, "opened_on": OPENED} | over


def consent(consent_id: str = "k-1", **over) -> dict:
    return {"consent_id": consent_id, "recipients": ["abh-unna", "jobcenter-unna"],
            "purposes": [ConsentPurpose.SECURE_RESIDENCE], "data_categories": [DataCategory.RESIDENCE,
                                                                                 DataCategory.IDENTITY],
            "special_categories": False, "form": ConsentForm.WRITTEN, "informed_in": "ar",
            "granted_on": OPENED, "valid_until": None, "recorded_by": "staff-1"} | over


def assessment(**over) -> dict:
    return {"assessed_on": date(2025, 2, 1), "rechtskreis": Rechtskreis.ASYLBLG,
            "domains": [ev.DomainAssessment(domain=LifeDomain.LANGUAGE, need="hoch", resources="gering")]} | over


def goal(goal_id: str = "g-1") -> ev.Goal:
    return ev.Goal(goal_id=goal_id, domain=LifeDomain.LANGUAGE, target_date=date(2025, 12, 1),
                   responsible_organisation_id="vhs-unna")


def now() -> datetime:
    return datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def run(case: Case, events: list) -> Case:
    for e in events:
        case.apply(e)
    return case


def opened_case(case_id: str = "case-1") -> Case:
    case = Case(case_id)
    return run(case, case.open(**opening()))
