"""The web app's gate preview and the cases service's gate (kim_cases.domain.consent_gate, as the referrals service refuses on it) agree on every case of
a matrix: same answer (covered or not), same consent chosen, the same gaps (the service's 409 put into German)."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta

import pytest
from kim_cases.domain import consent_gate
from kim_cases.domain.consent_gate import Consent
from kim_referrals.domain.consent import ConsentMissing


def choose_consent(consents, **ask):
    """The cases service's choice, raised as the referrals service raises a refusal (409)."""
    chosen, reasons = consent_gate.choose_consent(consents, **ask)
    if reasons:
        raise ConsentMissing(ask["case_id"], reasons, chosen.granted() if chosen else None)
    return chosen

from kim_web.application.consent_gate import check, german

TODAY = date(2025, 6, 1)
BASE = {"recipients": ["jobcenter"], "purposes": ["arbeitsmarktintegration"],
        "data_categories": ["stammdaten", "arbeit_qualifikation"], "granted_on": "2025-01-01", "valid_until": None,
        "withdrawn_at": None, "withdrawn_recipients": [], "withdrawn_categories": []}
VARIANTS = {
    "covering": {},
    "withdrawn": {"withdrawn_at": datetime(2025, 5, 1).isoformat()},
    "expired": {"valid_until": (TODAY - timedelta(days=1)).isoformat()},
    "valid today": {"valid_until": TODAY.isoformat()},
    "granted today": {"granted_on": TODAY.isoformat()},
    "not yet in effect": {"granted_on": (TODAY + timedelta(days=1)).isoformat()},
    "withdrawn for the recipient": {"withdrawn_recipients": ["jobcenter"]},
    "withdrawn for a category": {"withdrawn_categories": ["arbeit_qualifikation"]},
    "other recipient": {"recipients": ["abh"]},
    "other purpose": {"purposes": ["sprachfoerderung"]},
    "fewer categories": {"data_categories": ["stammdaten"]},
    "expired and other recipient": {"valid_until": "2024-01-01", "recipients": ["abh"]},
}
REQUESTS = [("jobcenter", "arbeitsmarktintegration", ["stammdaten"]),
            ("jobcenter", "arbeitsmarktintegration", ["arbeit_qualifikation", "gesundheit"]),
            ("jobcenter", "arbeitsmarktintegration", ["stammdaten", "arbeit_qualifikation"]),
            ("jobcenter", "arbeitsmarktintegration", ["gesundheit", "stammdaten", "wohnen"]),
            ("abh", "aufenthaltssicherung", ["aufenthalt"])]


def ledger(names: tuple[str, ...]) -> list[dict]:
    return [BASE | VARIANTS[n] | {"consent_id": f"c{i}-{n.replace(' ', '-')}"} for i, n in enumerate(names)]


def domain(row: dict) -> Consent:
    return Consent(row["consent_id"], "case-1", frozenset(row["recipients"]), frozenset(row["purposes"]),
                   frozenset(row["data_categories"]), date.fromisoformat(row["granted_on"]),
                   date.fromisoformat(row["valid_until"]) if row["valid_until"] else None,
                   withdrawn=row["withdrawn_at"] is not None, withdrawn_recipients=frozenset(row["withdrawn_recipients"]),
                   withdrawn_categories=frozenset(row["withdrawn_categories"]))


LEDGERS = [()] + [(n,) for n in VARIANTS] + list(itertools.combinations(VARIANTS, 2))


@pytest.mark.parametrize("names", LEDGERS, ids=lambda n: "+".join(n) or "none")
@pytest.mark.parametrize("recipient,purpose,categories", REQUESTS)
@pytest.mark.parametrize("named", [False, True])
def test_the_preview_answers_like_the_referrals_services_gate(names, recipient, purpose, categories, named):
    rows = ledger(names)
    consent_id = rows[-1]["consent_id"] if named and rows else None
    preview = check(rows, recipient=recipient, purpose=purpose, categories=categories, today=TODAY,
                    consent_id=consent_id)
    try:
        chosen = choose_consent([domain(r) for r in rows], case_id="case-1", recipient=recipient, purpose=purpose,
                                categories=categories, today=TODAY, consent_id=consent_id)
    except ConsentMissing as refused:
        assert not preview.covered
        assert preview.missing == [german(m) for m in refused.missing]  # the same gaps, said in German
    else:
        assert preview.covered and preview.consent_id == chosen.consent_id


def test_the_gaps_are_german_and_name_what_is_missing():
    answer = check(ledger(("expired and other recipient",)), recipient="jobcenter", purpose="einbuergerung",
                   categories=["gesundheit", "stammdaten"], today=TODAY, recipient_name="Jobcenter Kreis Unna")
    assert answer.missing == [
        "Die Einwilligung ist am 01.01.2024 abgelaufen.",
        "Die Empfängerin Jobcenter Kreis Unna ist in der Einwilligung nicht genannt.",
        "Der Zweck „Einbürgerung“ ist nicht abgedeckt.",
        "Die Datenkategorie Gesundheit (besondere Kategorie) ist nicht abgedeckt.",
    ]
    assert check([], recipient="x", purpose="y", categories=[], today=TODAY).missing == [
        "Für diesen Fall ist keine Einwilligung erfasst."]


def test_a_gap_the_web_app_does_not_know_is_shown_as_the_service_wrote_it():
    assert german("consent c1 does not start before 2026-01-01") == "consent c1 does not start before 2026-01-01"
