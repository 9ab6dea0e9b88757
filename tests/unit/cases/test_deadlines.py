"""The cases service's deadlines (issue 19), without a database: which event sets, moves or cancels which deadline
(a matrix), and what the aggregate decides when one fires (nothing once it no longer applies)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from kim_runtime.auth import Principal, Role
from kim_runtime.scheduler import Cancel, Deadline, start_of
from kim_schemas import cases as ev
from kim_schemas.case_codes import ClosureReason, LegalHoldReason, PauseReason, WithdrawalScope
from kim_schemas.codes import ErasureReason
from kim_schemas.types import Encrypted

from kim_cases.adapters.events import CommandContext, to_envelope
from kim_cases.application.deadlines import CaseDeadlines, plus_years
from kim_cases.domain import Client
from kim_cases.settings import CasesSettings

from .factory import consent, now, opened_case, run

CTX = CommandContext(actor="staff-1", principal=Principal(sub="staff-1", role=Role.CASE_MANAGER))
AT = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


def changes(event, *, subject: str = "c-1", **settings) -> list:
    rules = CaseDeadlines(CasesSettings(_env_file=None, **settings))
    return list(rules(to_envelope(event, CTX, subject=subject, municipality="05978024")))


@pytest.mark.parametrize(("event", "want"), [
    (ev.ConsentGranted(**consent(valid_until=date(2026, 3, 28)), case_id="k"),
     [Deadline("consent-expiry:k-1", "consent-expiry", "k", start_of(date(2026, 3, 29)), {"consent_id": "k-1"})]),
    (ev.ConsentGranted(**consent(), case_id="k"), []),
    (ev.ConsentWithdrawn(case_id="k", consent_id="k-1", scope=WithdrawalScope.ALL, effective_at=AT),
     [Cancel(key="consent-expiry:k-1")]),
    (ev.ConsentWithdrawn(case_id="k", consent_id="k-1", scope=WithdrawalScope.ONE_RECIPIENT, recipient="abh-unna",
                         effective_at=AT), []),
    (ev.ReviewHeld(case_id="k", review_id="r", held_on=date(2026, 5, 4), next_review_on=date(2026, 8, 1)),
     [Deadline("review-due:k", "review-due", "k", start_of(date(2026, 8, 1)), {"due_on": "2026-08-01"})]),
    (ev.ReviewHeld(case_id="k", review_id="r", held_on=date(2026, 5, 4)), [Cancel(key="review-due:k")]),
    (ev.CasePaused(case_id="k", reason=PauseReason.ILLNESS, paused_on=date(2026, 5, 4),
                   expected_resume_on=date(2026, 6, 1)),
     [Deadline("pause-end:k", "pause-end", "k", start_of(date(2026, 6, 1)), {"due_on": "2026-06-01"})]),
    (ev.CaseResumed(case_id="k", resumed_on=date(2026, 5, 20)), [Cancel(key="pause-end:k")]),
    (ev.CaseClosed(case_id="k", reason=ClosureReason.MOVED_AWAY, closed_on=date(2024, 2, 29), goals_agreed=0,
                   goals_achieved=0, duration_days=10),
     [Cancel(key="review-due:k"), Cancel(key="pause-end:k"),
      Deadline("retention:k", "retention", "k", start_of(date(2027, 2, 28)), {"client_id": "c-1"})]),
    (ev.LegalHoldLifted(client_id="c-1", hold_id="h", lifted_by="lead-1", lifted_at=AT),
     [Deadline("retention-recheck:c-1", "retention", "c-1", AT, {"client_id": "c-1"})]),
    (ev.MilestoneRecorded(case_id="k", milestone="wohnung_gefunden", reached_on=date(2026, 5, 4)), []),
])
def test_which_event_sets_moves_or_cancels_which_deadline(event, want):
    assert changes(event) == want


@pytest.mark.parametrize(("reason", "years"), [(ClosureReason.MOVED_AWAY, 1), (ClosureReason.GOALS_ACHIEVED, 3),
                                               (ClosureReason.CONSENT_WITHDRAWN, 2)])
def test_the_retention_period_follows_the_closure_reason(reason, years):
    closed = ev.CaseClosed(case_id="k", reason=reason, closed_on=date(2026, 1, 15), goals_agreed=0, goals_achieved=0,
                           duration_days=5)
    [retention] = [c for c in changes(closed, retention_years_by_reason="wegzug=1,einwilligung_widerrufen=2")
                   if isinstance(c, Deadline)]
    assert retention.due_at == start_of(date(2026 + years, 1, 15))


def test_a_day_falls_due_at_the_countys_midnight_summer_and_winter():
    assert start_of(date(2026, 7, 1)) == datetime(2026, 6, 30, 22, 0, tzinfo=UTC)
    assert start_of(date(2026, 1, 1)) == datetime(2025, 12, 31, 23, 0, tzinfo=UTC)
    assert plus_years(date(2024, 2, 29), 3) == date(2027, 2, 28)


def test_an_expiring_consent_expires_once_and_not_when_withdrawn_before():
    case = opened_case()
    run(case, case.grant_consent(**consent(valid_until=date(2025, 6, 30))))
    run(case, case.grant_consent(**consent("k-2", valid_until=date(2025, 6, 30))))
    run(case, case.withdraw_consent(consent_id="k-2", scope=WithdrawalScope.ALL, recipient=None, data_category=None,
                                    effective_at=now()))
    at = start_of(date(2025, 7, 1))
    [expired] = case.expire_consent("k-1", at)
    assert (expired.consent_id, expired.valid_until, expired.expired_at) == ("k-1", date(2025, 6, 30), at)
    run(case, [expired])
    consent_state = case.consents["k-1"]
    assert consent_state.expired_at == at
    # casework dated within the consent's validity stays possible after the expiry was recorded
    assert (consent_state.status(date(2025, 6, 30)), consent_state.status(date(2025, 7, 1))) == ("active", "expired")
    assert case.expire_consent("k-1", at) == [] and case.expire_consent("k-2", at) == []
    assert case.expire_consent("unknown", at) == []


def test_a_follow_up_fires_only_while_it_still_applies():
    case = opened_case()
    run(case, case.grant_consent(**consent()))
    run(case, [ev.ReviewHeld(case_id=case.case_id, review_id="r-1", held_on=date(2025, 2, 1),
                             next_review_on=date(2025, 3, 1))])
    [due] = case.review_falls_due(date(2025, 3, 1))
    assert (due.follow_up_id, due.case_id, due.stream_id()) == ("wv-case-1", "case-1", "wv-case-1")
    assert case.review_falls_due(date(2025, 2, 1)) == []  # a moved review: the old date fires nothing
    assert case.pause_end_falls_due(date(2025, 4, 1)) == []  # not paused
    run(case, case.pause(reason=PauseReason.ILLNESS, paused_on=date(2025, 3, 2), expected_resume_on=date(2025, 4, 1)))
    assert [e.due_on for e in case.pause_end_falls_due(date(2025, 4, 1))] == [date(2025, 4, 1)]
    run(case, case.close(reason=ClosureReason.OTHER, closed_on=date(2025, 3, 3)))
    assert case.review_falls_due(date(2025, 3, 1)) == [] and case.pause_end_falls_due(date(2025, 4, 1)) == []


def test_legal_holds_are_in_force_until_lifted_and_retention_erasure_says_so():
    client = Client("c-1")
    sealed = Encrypted(key_id="key-1", nonce="AAAAAAAAAAAAAAAA", ciphertext="c2VhbGVk")
    run(client, client.register(sealed, sealed))
    run(client, client.place_hold("h-1", reason=LegalHoldReason.LITIGATION, reference="VG-7-K-1/26", by="lead-1",
                                  at=AT))
    run(client, client.place_hold("h-2", reason=LegalHoldReason.AUDIT, reference="RPA-4", by="admin-1", at=AT))
    assert [h["hold_id"] for h in client.hold_views()] == ["h-1", "h-2"]
    run(client, client.lift_hold("h-1", by="lead-1", at=AT + timedelta(days=1)))
    assert list(client.holds) == ["h-2"]
    with pytest.raises(Exception, match="no legal hold h-1"):
        client.lift_hold("h-1", by="lead-1", at=AT)
    [erased] = client.erase(AT, ground="zweck_entfallen", reason=ErasureReason.RETENTION)
    assert (erased.reason, erased.key_id) == (ErasureReason.RETENTION, "key-1")
