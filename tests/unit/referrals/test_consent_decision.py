"""The gate's decision as an event (kim.referrals.ConsentChecked): what was required, what the consent granted
(withdrawn parts left out), and every reason when it was not met."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from kim_cases.domain.consent_gate import Consent
from kim_referrals.domain.consent import ConsentMissing, decision

from tests.unit.consent_choice import choose_consent



TODAY = date(2025, 3, 3)
NOW = datetime(2025, 3, 3, 9, 30, tzinfo=UTC)
CONSENT = Consent("k-1", "c-1", frozenset({"jobcenter-unna", "abh-unna"}), frozenset({"arbeitsmarktintegration"}),
                  frozenset({"arbeit_qualifikation", "aufenthalt"}), granted_on=date(2025, 1, 10),
                  valid_until=date(2025, 12, 31), withdrawn_recipients=frozenset({"abh-unna"}))
ASK = {"case_id": "c-1", "recipient": "jobcenter-unna", "purpose": "arbeitsmarktintegration",
       "categories": ["aufenthalt", "arbeit_qualifikation"], "today": TODAY}


def test_a_met_decision_names_the_consent_and_what_it_granted():
    chosen = choose_consent([CONSENT], **ASK)
    checked = decision(chosen.granted(), request_id="r-1", referral_id="r-1", reasons=[], checked_at=NOW, **ASK)
    assert checked.stream_id() == "r-1" and checked.met and checked.reasons == []
    assert (checked.consent_id, checked.valid_from, checked.valid_until) == ("k-1", date(2025, 1, 10),
                                                                              date(2025, 12, 31))
    assert checked.categories_required == ["arbeit_qualifikation", "aufenthalt"]
    assert checked.recipients_granted == ["jobcenter-unna"]  # the withdrawn recipient is not granted any more
    assert checked.checked_on == TODAY


def test_a_refusal_names_the_closest_consent_and_every_reason():
    ask = {**ASK, "recipient": "abh-unna", "categories": ["gesundheit"]}
    with pytest.raises(ConsentMissing) as refused:
        choose_consent([CONSENT], **ask)
    checked = decision(refused.value.granted, request_id="consent-check-1", referral_id=None,
                       reasons=refused.value.missing, checked_at=NOW, **ask)
    assert (checked.met, checked.consent_id, checked.referral_id) == (False, "k-1", None)
    assert checked.reasons == refused.value.missing and len(checked.reasons) == 2
    assert any("withdrawn for recipient abh-unna" in r for r in checked.reasons)


def test_a_case_without_any_consent_is_refused_with_no_consent_named():
    with pytest.raises(ConsentMissing) as refused:
        choose_consent([], **ASK)
    checked = decision(refused.value.granted, request_id="consent-check-2", referral_id=None,
                       reasons=refused.value.missing, checked_at=NOW, **ASK)
    assert (checked.met, checked.consent_id, checked.categories_granted) == (False, None, [])
    assert checked.reasons == ["case c-1 has no consent recorded"]


def test_a_withdrawal_read_from_kim_cases_revokes_by_scope_alone_without_any_date():
    """What the referrals service keeps of a consent (kim_referrals.domain.consent.Withdrawals): whether an open
    referral on it is still covered after a withdrawal or an expiry, decided in event order."""
    from kim_referrals.domain.consent import Withdrawals
    from kim_schemas.case_codes import WithdrawalScope

    none = Withdrawals()
    assert none.gaps("k-1", "jobcenter-unna", ["aufenthalt"]) == []
    one = none.withdraw(WithdrawalScope.ONE_RECIPIENT, "abh-unna", None)
    assert one.gaps("k-1", "jobcenter-unna", ["aufenthalt"]) == []  # another partner's referral stays
    assert one.gaps("k-1", "abh-unna", ["aufenthalt"]) == ["consent k-1 was withdrawn for recipient abh-unna"]
    cat = none.withdraw(WithdrawalScope.ONE_CATEGORY, None, "gesundheit")
    assert cat.gaps("k-1", "jobcenter-unna", ["aufenthalt"]) == []
    assert cat.gaps("k-1", "jobcenter-unna", ["aufenthalt", "gesundheit"]) == [
        "consent k-1 was withdrawn for data gesundheit"]
    assert none.withdraw(WithdrawalScope.ALL, None, None).gaps("k-1", "x", ["aufenthalt"]) == [
        "consent k-1 was withdrawn"]
    assert Withdrawals(expired=True).gaps("k-1", "x", ["aufenthalt"]) == ["consent k-1 expired"]
