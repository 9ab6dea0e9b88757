"""The consent gate: a referral needs a consent covering recipient, purpose and every category it shares."""

from __future__ import annotations

from datetime import date

import pytest
from kim_schemas.case_codes import WithdrawalScope

from kim_referrals.domain.consent import Consent, ConsentMissing, choose_consent

TODAY = date(2025, 3, 3)
CONSENT = Consent("k-1", "c-1", frozenset({"jobcenter-unna", "abh-unna"}),
                  frozenset({"arbeitsmarktintegration"}), frozenset({"arbeit_qualifikation", "aufenthalt"}))


def choose(consents, **kw):
    args = dict(case_id="c-1", recipient="jobcenter-unna", purpose="arbeitsmarktintegration",
                categories=["arbeit_qualifikation"], today=TODAY)
    return choose_consent(consents, **(args | kw))


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


def test_expired_and_withdrawn_consents_do_not_count():
    expired = Consent("k-2", "c-1", CONSENT.recipients, CONSENT.purposes, CONSENT.data_categories, date(2025, 3, 2))
    with pytest.raises(ConsentMissing, match="expired on 2025-03-02"):
        choose([expired])
    with pytest.raises(ConsentMissing, match="k-1 was withdrawn"):
        choose([CONSENT.withdraw(WithdrawalScope.ALL, None, None)])


def test_partial_withdrawals_remove_only_their_recipient_or_category():
    without_jc = CONSENT.withdraw(WithdrawalScope.ONE_RECIPIENT, "jobcenter-unna", None)
    assert without_jc.gaps("jobcenter-unna", "arbeitsmarktintegration", ["aufenthalt"], TODAY)
    assert not without_jc.gaps("abh-unna", "arbeitsmarktintegration", ["aufenthalt"], TODAY)
    without_residence = CONSENT.withdraw(WithdrawalScope.ONE_CATEGORY, None, "aufenthalt")
    assert without_residence.gaps("jobcenter-unna", "arbeitsmarktintegration", ["aufenthalt"], TODAY)
    assert not without_residence.gaps("jobcenter-unna", "arbeitsmarktintegration", ["arbeit_qualifikation"], TODAY)


def test_the_first_covering_consent_wins_over_an_earlier_narrower_one():
    narrow = Consent("k-0", "c-1", frozenset({"jobcenter-unna"}), frozenset({"arbeitsmarktintegration"}),
                     frozenset({"aufenthalt"}))
    assert choose([narrow, CONSENT]).consent_id == "k-1"
