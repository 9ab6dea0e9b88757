"""The referral aggregate: a client referred to a partner organisation, from request to closure or revocation.

Lifecycle: requested → accepted | declined (reason) → appointment scheduled → outcome reported → closed.
Revoked ends any referral that is not closed yet (consent withdrawn, case closed, client erased); after that nothing
changes.
Methods check the rules and return the new events (already applied); `from_events` (kim_runtime.commands.Aggregate) rebuilds the state.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from kim_runtime.commands import Aggregate
from kim_runtime.errors import RuleViolation
from kim_schemas.base import Event
from kim_schemas.codes import ConsentPurpose, DataCategory, OutcomeCode, RevocationReason
from kim_schemas.referrals import (
    AppointmentOutcomeMissing,
    AppointmentScheduled,
    ConsentChecked,
    DeclineReason,
    ReferralAccepted,
    ReferralClosed,
    ReferralDeclined,
    ReferralOutcomeReported,
    ReferralOverdue,
    ReferralRequested,
    ReferralRevoked,
)

class State(StrEnum):
    REQUESTED = "requested"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    APPOINTMENT_SCHEDULED = "appointment_scheduled"
    OUTCOME_REPORTED = "outcome_reported"
    CLOSED = "closed"
    REVOKED = "revoked"


FINAL = {State.CLOSED, State.REVOKED}
# what a referral's stream holds (the gate's decision first; streams from before contract 2.0.0 also hold its
# partner events, which the referral passes over)
EVENTS = (ConsentChecked, ReferralRequested, ReferralAccepted, ReferralDeclined, AppointmentScheduled,
          ReferralOutcomeReported, ReferralClosed, ReferralRevoked)


class Referral(Aggregate):
    def __init__(self, referral_id: str):
        self.referral_id = referral_id
        self.state: State | None = None
        self.case_id = self.to_organisation_id = self.consent_id = ""
        self.purpose: ConsentPurpose | None = None
        self.data_categories: list[DataCategory] = []
        self.due_on: date | None = None
        self.appointment_on: date | None = None
        self.outcome: OutcomeCode | None = None
        self.decline_reason: DeclineReason | None = None
        self.revocation_reason: RevocationReason | None = None

    @classmethod
    def request(cls, requested: ReferralRequested) -> tuple[Referral, list[Event]]:
        """A new referral; the caller has already checked the consent gate."""
        referral = cls(requested.referral_id)
        referral.apply(requested)
        return referral, [requested]

    @property
    def is_open(self) -> bool:
        return self.state is not None and self.state not in FINAL

    # -- decisions -------------------------------------------------------------------------------------
    def accept(self, now: datetime) -> list[Event]:
        self._require(State.REQUESTED, action="accept")
        return self.emit(ReferralAccepted(referral_id=self.referral_id, case_id=self.case_id, accepted_at=now))

    def decline(self, reason: DeclineReason, now: datetime) -> list[Event]:
        self._require(State.REQUESTED, action="decline")
        return self.emit(
            ReferralDeclined(referral_id=self.referral_id, case_id=self.case_id, reason=reason, declined_at=now)
        )

    def schedule(self, appointment_on: date, now: datetime) -> list[Event]:
        self._require(State.ACCEPTED, State.APPOINTMENT_SCHEDULED, action="schedule an appointment for")
        return self.emit(AppointmentScheduled(
            referral_id=self.referral_id, case_id=self.case_id, appointment_on=appointment_on, scheduled_at=now
        ))

    def report_outcome(self, outcome: OutcomeCode, now: datetime) -> list[Event]:
        self._require(State.ACCEPTED, State.APPOINTMENT_SCHEDULED, State.OUTCOME_REPORTED,
                      action="report an outcome for")
        return self.emit(ReferralOutcomeReported(
            referral_id=self.referral_id, case_id=self.case_id, outcome=outcome, reported_at=now
        ))

    def close(self, now: datetime) -> list[Event]:
        self._require(State.DECLINED, State.OUTCOME_REPORTED, action="close")
        return self.emit(ReferralClosed(referral_id=self.referral_id, case_id=self.case_id, closed_at=now))

    def revoke(self, reason: RevocationReason, now: datetime, consent_id: str | None = None) -> list[Event]:
        """Revoke unless already final (idempotent: a second revocation decides nothing)."""
        if not self.is_open:
            return []
        return self.emit(ReferralRevoked(
            referral_id=self.referral_id, case_id=self.case_id, reason=reason, consent_id=consent_id, revoked_at=now
        ))

    def end_with_case(self, now: datetime) -> list[Event]:
        """The case closed: revoke (the partner purges) and close the referral."""
        if not self.is_open:
            return []
        revoked = self.revoke(RevocationReason.CASE_CLOSED, now)
        closed = ReferralClosed(referral_id=self.referral_id, case_id=self.case_id, closed_at=now)
        self.apply(closed)
        return [*revoked, closed]

    # -- follow-ups (Wiedervorlage), fired by the scheduler; nothing when the referral moved on meanwhile ---------
    def mark_overdue(self, due_on: date) -> list[Event]:
        """No answer (accept or decline) by due_on."""
        if self.state is not State.REQUESTED or self.due_on != due_on:
            return []
        return [ReferralOverdue(follow_up_id=f"wv-{self.referral_id}", referral_id=self.referral_id,
                                case_id=self.case_id, due_on=due_on)]

    def mark_outcome_missing(self, appointment_on: date) -> list[Event]:
        """The appointment day passed without an outcome."""
        if self.state is not State.APPOINTMENT_SCHEDULED or self.appointment_on != appointment_on:
            return []
        return [AppointmentOutcomeMissing(follow_up_id=f"wv-{self.referral_id}", referral_id=self.referral_id,
                                          case_id=self.case_id, appointment_on=appointment_on)]

    # -- state -----------------------------------------------------------------------------------------
    def apply(self, event: Event) -> None:
        match event:
            case ReferralRequested():
                self.state = State.REQUESTED
                self.case_id, self.to_organisation_id = event.case_id, event.to_organisation_id
                self.consent_id, self.purpose = event.consent_id, event.purpose
                self.data_categories, self.due_on = list(event.data_categories), event.due_on
            case ReferralAccepted():
                self.state = State.ACCEPTED
            case ReferralDeclined():
                self.state, self.decline_reason = State.DECLINED, event.reason
            case AppointmentScheduled():
                self.state, self.appointment_on = State.APPOINTMENT_SCHEDULED, event.appointment_on
            case ReferralOutcomeReported():
                self.state, self.outcome = State.OUTCOME_REPORTED, event.outcome
            case ReferralClosed():
                self.state = State.CLOSED
            case ReferralRevoked():
                self.state, self.revocation_reason = State.REVOKED, event.reason
        self.version += 1

    def _require(self, *states: State, action: str) -> None:
        if self.state in states:
            return
        allowed = " or ".join(s.value for s in states)
        why = f"it was revoked ({self.revocation_reason.value})" if self.state is State.REVOKED else (
            f"it is {self.state.value if self.state else 'unknown'}")
        # no id in the message: a partner knows the referral by its own id, and must never learn the internal one
        raise RuleViolation(f"cannot {action} this referral: {why}; this needs it to be {allowed}")
