"""de-DE formats, and a German label for every code of the event contract."""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum

import pytest
from kim_schemas import case_codes, codes
from kim_schemas.referrals import DeclineReason

from kim_web.application import labels as L
from kim_web.application.formats import de_date, de_datetime, de_number, de_percent, iso_date

CODE_LISTS = [
    (case_codes.TeamKind, L.TEAM_KINDS), (case_codes.AccessChannel, L.ACCESS_CHANNELS),
    (case_codes.ConsentForm, L.CONSENT_FORMS), (case_codes.WithdrawalScope, L.WITHDRAWAL_SCOPES),
    (case_codes.Level, L.LEVELS), (case_codes.Perspective, L.PERSPECTIVES),
    (case_codes.GoalDropReason, L.GOAL_DROP_REASONS), (case_codes.MilestoneKind, L.MILESTONES),
    (case_codes.LanguageLevel, L.LANGUAGE_LEVELS), (case_codes.PauseReason, L.PAUSE_REASONS),
    (case_codes.ClosureReason, L.CLOSURE_REASONS), (codes.Baustein, L.BAUSTEINE), (codes.Rechtskreis, L.RECHTSKREISE),
    (codes.ResidenceStatus, L.RESIDENCE), (codes.PartnerKind, L.PARTNER_KINDS), (codes.LifeDomain, L.LIFE_DOMAINS),
    (codes.ConsentPurpose, L.PURPOSES), (codes.DataCategory, L.DATA_CATEGORIES), (codes.OutcomeCode, L.OUTCOMES),
    (codes.RevocationReason, L.REVOCATION_REASONS), (codes.ErasureGround, L.ERASURE_GROUNDS),
    (DeclineReason, L.DECLINE_REASONS),
]


@pytest.mark.parametrize("enum,names", CODE_LISTS, ids=lambda x: getattr(x, "__name__", ""))
def test_every_code_has_a_german_label_and_no_label_is_for_an_unknown_code(enum: type[StrEnum], names: dict):
    assert set(names) == {m.value for m in enum}


@pytest.mark.parametrize("value,decimals,text", [
    (0, None, "0"), (7, None, "7"), (1234, None, "1.234"), (1234567.5, None, "1.234.567,5"), ("19.500", 3, "19,500"),
    ("0.5", None, "0,5"), (2.0, None, "2"), (12.345, 1, "12,3"), (12.35, 1, "12,4"), (-1234.5, 2, "-1.234,50"),
    (None, None, "–"), ("", 2, "–"), ("abc", None, "abc"),
])
def test_numbers_are_written_the_german_way(value, decimals, text):
    assert de_number(value, decimals) == text


def test_dates_times_and_percentages():
    assert de_date("2025-03-01") == "01.03.2025" and de_date(date(2024, 12, 31)) == "31.12.2024"
    assert de_date(None) == "–" and de_date("kein Datum") == "kein Datum"
    assert de_datetime(datetime(2025, 1, 15, 8, 30, tzinfo=UTC)) == "15.01.2025, 09:30 Uhr"  # CET
    assert de_datetime("2025-07-15T08:30:00+00:00") == "15.07.2025, 10:30 Uhr"  # CEST
    assert de_percent(0.7523) == "75,2 %" and de_percent(None) == "–"


@pytest.mark.parametrize("typed,sent", [("2025-03-01", "2025-03-01"), ("1.3.2025", "2025-03-01"),
                                        (" 01.03.2025 ", "2025-03-01"), ("31.02.2025", "31.02.2025"),
                                        ("", None), ("   ", None), ("morgen", "morgen")])
def test_typed_dates_go_to_the_api_as_iso_and_nonsense_goes_as_typed(typed, sent):
    assert iso_date(typed) == sent


@pytest.mark.parametrize("name,text", [("name", "Name"), ("goals.0.target_date", "Ziel 1: Zieldatum"),
                                       ("domains.2.need", "Lebensbereich 3: need"), ("unbekannt", "unbekannt")])
def test_the_fields_an_api_names_are_given_their_german_names(name, text):
    assert L.field_label(name) == text


def test_every_form_field_the_pages_send_has_a_german_name():
    from kim_web.application import forms
    specs = [forms.CLIENT, forms.CASE, forms.CONSENT, forms.WITHDRAWAL, forms.RESIDENCE, forms.MILESTONE,
             forms.CLOSURE, forms.REVIEW, forms.GOAL_ACHIEVED, forms.GOAL_DROPPED, forms.REFERRAL, forms.DECLINE,
             forms.APPOINTMENT, forms.OUTCOME]
    assert {f for spec in specs for f in spec} - set(L.FIELDS) == set()
