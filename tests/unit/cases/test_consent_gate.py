"""The consent gate: a referral needs a consent in force today (granted_on ≤ today ≤ valid_until, not withdrawn for
its recipient or categories) that covers recipient, purpose and every category it shares; a refusal names every
condition that failed."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pytest
from kim_schemas.case_codes import WithdrawalScope

from kim_cases.domain.consent_gate import Consent
from kim_referrals.domain.consent import ConsentMissing

from tests.unit.consent_choice import choose_consent



TODAY = date(2025, 3, 3)
CONSENT = Consent("k-1", "c-1", frozenset({"jobcenter-unna", "abh-unna"}),
                  frozenset({"arbeitsmarktintegration"}), frozenset({"arbeit_qualifikation", "aufenthalt"}),
                  granted_on=date(2025, 1, 10))

# The matrix. Each dimension's values, and what each value alone makes the gate say (nothing: it does not block).
# The referral asks for recipient jobcenter-unna, purpose arbeitsmarktintegration, categories aufenthalt and
# arbeit_qualifikation; a cell is allowed exactly when no value of its row blocks.
GRANTED = {
    "future": (TODAY + timedelta(days=90), ["consent k-1 takes effect only on 2025-06-01 (granted_on lies after "
                                            "today, 2025-03-03)"]),
    "today": (TODAY, []),
    "past": (TODAY - timedelta(days=90), []),
}
VALID_UNTIL = {
    "past": (TODAY - timedelta(days=1), ["consent k-1 expired on 2025-03-02"]),
    "today": (TODAY, []),
    "future": (TODAY + timedelta(days=365), []),
    "none": (None, []),
}
WITHDRAWN = {
    "all": ((WithdrawalScope.ALL, None, None), ["consent k-1 was withdrawn"]),
    "the recipient": ((WithdrawalScope.ONE_RECIPIENT, "jobcenter-unna", None),
                      ["consent k-1 was withdrawn for recipient jobcenter-unna"]),
    "another recipient": ((WithdrawalScope.ONE_RECIPIENT, "abh-unna", None), []),
    "a shared category": ((WithdrawalScope.ONE_CATEGORY, None, "aufenthalt"),
                          ["consent k-1 was withdrawn for data category aufenthalt"]),
    "another category": ((WithdrawalScope.ONE_CATEGORY, None, "gesundheit"), []),
    "nothing": (None, []),
}
MATRIX = list(itertools.product(GRANTED, VALID_UNTIL, WITHDRAWN))


def consent_for(granted: str, valid_until: str, withdrawn: str) -> Consent:
    c = Consent("k-1", "c-1", frozenset({"jobcenter-unna", "abh-unna"}), frozenset({"arbeitsmarktintegration"}),
                frozenset({"arbeit_qualifikation", "aufenthalt", "gesundheit"}), granted_on=GRANTED[granted][0],
                valid_until=VALID_UNTIL[valid_until][0])
    withdrawal = WITHDRAWN[withdrawn][0]
    return c.withdraw(*withdrawal) if withdrawal else c


def choose(consents, **kw):
    args = dict(case_id="c-1", recipient="jobcenter-unna", purpose="arbeitsmarktintegration",
                categories=["arbeit_qualifikation"], today=TODAY)
    return choose_consent(consents, **(args | kw))


@pytest.mark.parametrize(("granted", "valid_until", "withdrawn"), MATRIX)
def test_the_gate_matrix_allows_exactly_the_cells_where_nothing_blocks_and_names_what_does(
    granted, valid_until, withdrawn
):
    consent = consent_for(granted, valid_until, withdrawn)
    expected = GRANTED[granted][1] + VALID_UNTIL[valid_until][1] + WITHDRAWN[withdrawn][1]
    categories = ["aufenthalt", "arbeit_qualifikation"]
    assert consent.gaps("jobcenter-unna", "arbeitsmarktintegration", categories, TODAY) == expected
    if expected:
        with pytest.raises(ConsentMissing) as refused:
            choose([consent], categories=categories)
        assert refused.value.missing == expected and all(reason in str(refused.value) for reason in expected)
    else:
        assert choose([consent], categories=categories) is consent


def test_the_matrix_has_every_combination_and_both_outcomes():
    allowed = [cell for cell in MATRIX if not any(d[k][1] for d, k in zip((GRANTED, VALID_UNTIL, WITHDRAWN), cell))]
    assert len(MATRIX) == 72 and len(allowed) == 2 * 3 * 3  # today/past × today/future/none × 3 harmless withdrawals


def test_a_covering_consent_is_chosen():
    assert choose([CONSENT]) is CONSENT


def test_the_refusal_names_every_missing_piece():
    with pytest.raises(ConsentMissing) as exc:
        choose([CONSENT], recipient="sozialamt-unna", purpose="wohnraumversorgung",
               categories=["arbeit_qualifikation", "gesundheit", "wohnen"])
    message = str(exc.value)
    for piece in ("recipient sozialamt-unna", "purpose wohnraumversorgung", "data categories gesundheit, wohnen"):
        assert piece in message
    assert "Record a matching consent" in message


def test_no_consent_at_all_and_an_unknown_named_consent_are_refused_by_name():
    with pytest.raises(ConsentMissing, match="case c-1 has no consent recorded"):
        choose([])
    with pytest.raises(ConsentMissing, match="consent k-9 is not known for case c-1"):
        choose([CONSENT], consent_id="k-9")


def test_withdrawals_add_up_and_keep_what_was_granted():
    both = (CONSENT.withdraw(WithdrawalScope.ONE_RECIPIENT, "jobcenter-unna", None)
            .withdraw(WithdrawalScope.ONE_CATEGORY, None, "aufenthalt"))
    assert both.recipients == CONSENT.recipients and both.data_categories == CONSENT.data_categories
    assert both.gaps("jobcenter-unna", "arbeitsmarktintegration", ["aufenthalt"], TODAY) == [
        "consent k-1 was withdrawn for recipient jobcenter-unna",
        "consent k-1 was withdrawn for data category aufenthalt"]
    assert not both.gaps("abh-unna", "arbeitsmarktintegration", ["arbeit_qualifikation"], TODAY)


def test_the_first_covering_consent_wins_over_an_earlier_narrower_or_not_yet_valid_one():
    narrow = Consent("k-0", "c-1", frozenset({"jobcenter-unna"}), frozenset({"arbeitsmarktintegration"}),
                     frozenset({"aufenthalt"}), granted_on=date(2025, 1, 1))
    pending = Consent("k-p", "c-1", CONSENT.recipients, CONSENT.purposes, CONSENT.data_categories,
                      granted_on=date(2025, 6, 1))
    assert choose([narrow, pending, CONSENT]).consent_id == "k-1"


def test_the_cases_service_decides_on_its_ledger_as_granted_with_what_was_withdrawn_beside_it():
    """kim_cases.domain.consent_gate.Consent.of: a ledger entry (ConsentState, after kim.cases withdrawals) as the gate
    decides on it, and what it grants now as the referrals service records it (ConsentChecked)."""
    from datetime import UTC, datetime

    from kim_cases.domain.consent import ConsentState
    from kim_schemas.cases import ConsentGranted, ConsentWithdrawn

    state = ConsentState.of(ConsentGranted(
        case_id="c-1", consent_id="k-1", recipients=["jobcenter-unna", "abh-unna"],
        purposes=["arbeitsmarktintegration"], data_categories=["aufenthalt", "gesundheit"], special_categories=True,
        form="schriftlich", informed_in="ar", granted_on=date(2025, 1, 10), valid_until=date(2025, 12, 31),
        recorded_by="cm-1"))
    at = datetime(2025, 2, 1, tzinfo=UTC)
    state.withdraw(ConsentWithdrawn(case_id="c-1", consent_id="k-1", scope="empfaenger", recipient="abh-unna",
                                    effective_at=at))
    state.withdraw(ConsentWithdrawn(case_id="c-1", consent_id="k-1", scope="kategorie", data_category="gesundheit",
                                    effective_at=at))
    consent = Consent.of(state)
    assert (consent.withdrawn_recipients, consent.withdrawn_categories, consent.withdrawn) == (
        {"abh-unna"}, {"gesundheit"}, False)
    ask = {"case_id": "c-1", "purpose": "arbeitsmarktintegration", "today": date(2025, 3, 1)}
    assert choose_consent([consent], recipient="jobcenter-unna", categories=["aufenthalt"], **ask) is consent
    with pytest.raises(ConsentMissing) as refused:
        choose_consent([consent], recipient="abh-unna", categories=["gesundheit"], **ask)
    assert refused.value.missing == ["consent k-1 was withdrawn for recipient abh-unna",
                                     "consent k-1 was withdrawn for data category gesundheit"]
    assert consent.granted() == {
        "consent_id": "k-1", "categories_granted": ["aufenthalt"], "recipients_granted": ["jobcenter-unna"],
        "purposes_granted": ["arbeitsmarktintegration"], "valid_from": date(2025, 1, 10),
        "valid_until": date(2025, 12, 31), "withdrawn": False}
    state.withdraw(ConsentWithdrawn(case_id="c-1", consent_id="k-1", scope="alle", effective_at=at))
    assert Consent.of(state).withdrawn
