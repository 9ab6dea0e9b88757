"""The referral aggregate: its lifecycle rules, and that state rebuilt from events equals the decided state."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kim_runtime.errors import RuleViolation
from kim_schemas.codes import OutcomeCode, RevocationReason
from kim_schemas.referrals import DeclineReason, ReferralClosed, ReferralRevoked

from kim_referrals.domain.referral import FINAL, Referral, State

from .factories import NOW, requested


def new() -> Referral:
    return Referral.request(requested())[0]


def test_the_happy_path_ends_closed_with_its_outcome():
    r = new()
    r.accept(NOW)
    r.schedule(date(2025, 3, 10), NOW)
    r.report_outcome(OutcomeCode.MEASURE_STARTED, NOW)
    r.close(NOW)
    assert (r.state, r.appointment_on, r.outcome) == (State.CLOSED, date(2025, 3, 10), OutcomeCode.MEASURE_STARTED)


def test_a_declined_referral_keeps_its_reason_and_can_be_closed_but_not_accepted():
    r = new()
    r.decline(DeclineReason.NO_CAPACITY, NOW)
    with pytest.raises(RuleViolation, match="it is declined"):
        r.accept(NOW)
    r.close(NOW)
    assert (r.state, r.decline_reason) == (State.CLOSED, DeclineReason.NO_CAPACITY)


def test_an_outcome_needs_acceptance_first_and_says_so():
    with pytest.raises(RuleViolation, match="needs it to be accepted or appointment_scheduled or outcome_reported"):
        new().report_outcome(OutcomeCode.PLACED, NOW)


def test_revocation_ends_the_referral_and_is_idempotent():
    r = new()
    r.accept(NOW)
    [revoked] = r.revoke(RevocationReason.CONSENT_WITHDRAWN, NOW, "k-1")
    assert isinstance(revoked, ReferralRevoked) and revoked.case_id == "c-1"
    assert r.revoke(RevocationReason.CONSENT_WITHDRAWN, NOW) == []
    with pytest.raises(RuleViolation, match="revoked \\(einwilligung_widerrufen\\)"):
        r.schedule(date(2025, 3, 10), NOW)


def test_case_closure_revokes_then_closes_and_leaves_closed_referrals_alone():
    r = new()
    events = r.end_with_case(NOW)
    assert [type(e) for e in events] == [ReferralRevoked, ReferralClosed]
    assert events[0].reason is RevocationReason.CASE_CLOSED
    assert (r.state, r.revocation_reason) == (State.CLOSED, RevocationReason.CASE_CLOSED)
    assert r.end_with_case(NOW) == []


COMMANDS = st.sampled_from([
    lambda r: r.accept(NOW),
    lambda r: r.decline(DeclineReason.OTHER, NOW),
    lambda r: r.schedule(date(2025, 4, 1), NOW),
    lambda r: r.report_outcome(OutcomeCode.IN_PROGRESS, NOW),
    lambda r: r.close(NOW),
    lambda r: r.revoke(RevocationReason.CONSENT_WITHDRAWN, NOW),
    lambda r: r.end_with_case(NOW),
])
ALLOWED = {  # state -> states a single decision may lead to
    State.REQUESTED: {State.ACCEPTED, State.DECLINED, State.REVOKED, State.CLOSED},
    State.ACCEPTED: {State.APPOINTMENT_SCHEDULED, State.OUTCOME_REPORTED, State.REVOKED, State.CLOSED},
    State.APPOINTMENT_SCHEDULED: {State.APPOINTMENT_SCHEDULED, State.OUTCOME_REPORTED, State.REVOKED, State.CLOSED},
    State.OUTCOME_REPORTED: {State.OUTCOME_REPORTED, State.CLOSED, State.REVOKED},
    State.DECLINED: {State.CLOSED, State.REVOKED},
}


@settings(max_examples=300, deadline=None)
@given(st.lists(COMMANDS, max_size=12))
def test_any_command_sequence_follows_the_lifecycle_and_replays_to_the_same_state(commands):
    r, history = new(), [requested()]
    for command in commands:
        before = r.state
        try:
            events = command(r)
        except RuleViolation:
            assert r.state == before  # a refused command changes nothing
            continue
        history += events
        if before in FINAL:
            assert events == [] and r.state == before
        elif events:
            assert r.state in ALLOWED[before], f"{before} -> {r.state}"
    replayed = Referral.from_events("r-1", history)
    assert vars(replayed) == vars(r)
