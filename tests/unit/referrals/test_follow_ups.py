"""The referrals service's follow-ups (issue 19), without a database: the deadline each event sets or cancels (a
matrix), and the follow-up the aggregate records only while it still applies."""

from __future__ import annotations

from datetime import date

import pytest
from kim_runtime.envelope import Envelope
from kim_runtime.scheduler import Cancel, Deadline, start_of
from kim_schemas.codes import OutcomeCode, RevocationReason
from kim_schemas.referrals import DeclineReason

from kim_referrals.application.deadlines import schedule
from kim_referrals.domain.referral import Referral

from .factories import NOW, requested

OVERDUE = Cancel(key="referral-overdue:r-1")
NO_OUTCOME = Cancel(key="appointment-outcome:r-1")


def env(type_: str, **data) -> Envelope:
    return Envelope(type=f"kim.referrals.{type_}", source="/kim/referrals", stream_id="r-1",
                    data={"referral_id": "r-1", **data})


@pytest.mark.parametrize(("event", "want"), [
    (env("ReferralRequested", due_on="2026-03-31"),
     [Deadline("referral-overdue:r-1", "referral-overdue", "r-1", start_of(date(2026, 4, 1)),
               {"due_on": "2026-03-31"})]),
    (env("ReferralRequested", due_on=None), []),
    (env("ReferralAccepted"), [OVERDUE]),
    (env("ReferralDeclined"), [OVERDUE]),
    (env("AppointmentScheduled", appointment_on="2026-04-10"),
     [Deadline("appointment-outcome:r-1", "appointment-outcome", "r-1", start_of(date(2026, 4, 11)),
               {"appointment_on": "2026-04-10"})]),
    (env("ReferralOutcomeReported"), [NO_OUTCOME]),
    (env("ReferralRevoked"), [OVERDUE, NO_OUTCOME]),
    (env("ReferralClosed"), [OVERDUE, NO_OUTCOME]),
    (env("ReferralOverdue"), []),
])
def test_which_event_sets_or_cancels_which_follow_up(event, want):
    assert list(schedule(event)) == want


def test_an_unanswered_referral_is_overdue_once_its_due_day_passed_and_not_after_an_answer():
    referral, _ = Referral.request(requested(due_on=date(2025, 3, 31)))
    [overdue] = referral.mark_overdue(date(2025, 3, 31))
    assert (overdue.stream_id(), overdue.referral_id, overdue.due_on) == ("wv-r-1", "r-1", date(2025, 3, 31))
    assert referral.mark_overdue(date(2025, 3, 30)) == []  # another due day than the referral's
    referral.decline(DeclineReason.NO_CAPACITY, NOW)
    assert referral.mark_overdue(date(2025, 3, 31)) == []


def test_an_appointment_without_outcome_is_followed_up_only_for_its_current_date():
    referral, _ = Referral.request(requested())
    referral.accept(NOW)
    referral.schedule(date(2025, 4, 10), NOW)
    assert referral.mark_outcome_missing(date(2025, 4, 9)) == []
    [missing] = referral.mark_outcome_missing(date(2025, 4, 10))
    assert (missing.stream_id(), missing.appointment_on) == ("wv-r-1", date(2025, 4, 10))
    referral.report_outcome(OutcomeCode.IN_PROGRESS, NOW)
    assert referral.mark_outcome_missing(date(2025, 4, 10)) == []
    referral.revoke(RevocationReason.CONSENT_EXPIRED, NOW, "k-1")
    assert referral.revocation_reason is RevocationReason.CONSENT_EXPIRED
