"""What a partner sees: the pseudonymous view of its referrals, derived from the referral's own events.

Only pseudonyms and codes, never names, addresses or notes; client facts (residence status, Rechtskreis,
languages) only when the referral shares the data category they belong to.

The view is the current state: every change publishes a full snapshot (`PartnerReferralSnapshot`, versions 1, 2, 3
per referral). A revocation publishes the revocation notice and then a tombstone, and nothing after that: the
partner purges, compaction removes the key's records, the partner API answers 410 Gone.

One state vocabulary for topic and API: `PARTNER_STATE` maps the referral's internal state to the partner's word
(today the same words); a revoked referral has none. Times are cut to the second (`to_second`), so no partner time
equals an internal event's time to the microsecond.

Ids come in already derived for this partner (`PartnerRefs`): the view never carries an internal id.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from kim_schemas.base import Event
from kim_schemas.codes import DataCategory
from kim_schemas.partner import (
    LEGACY_STATES,
    PartnerReferralOffered,
    PartnerReferralRevoked,
    PartnerReferralSnapshot,
    PartnerReferralTombstone,
    PartnerReferralUpdated,
    PartnerState,
)
from kim_schemas.referrals import (
    AppointmentScheduled,
    ReferralAccepted,
    ReferralClosed,
    ReferralDeclined,
    ReferralOutcomeReported,
    ReferralRequested,
    ReferralRevoked,
)

from .referral import State

# The referral's internal state -> the partner's word for it, on the topic and in the partner API alike.
# REVOKED has none: a revoked referral is a revocation notice plus a tombstone on the topic, 410 Gone in the API.
PARTNER_STATE: dict[State, PartnerState] = {
    State.REQUESTED: PartnerState.REQUESTED,
    State.ACCEPTED: PartnerState.ACCEPTED,
    State.DECLINED: PartnerState.DECLINED,
    State.APPOINTMENT_SCHEDULED: PartnerState.APPOINTMENT_SCHEDULED,
    State.OUTCOME_REPORTED: PartnerState.OUTCOME_REPORTED,
    State.CLOSED: PartnerState.CLOSED,
}

# The lifecycle events a partner sees, each with its time field and the partner state it leads to
_CHANGES: dict[type[Event], tuple[str, PartnerState]] = {
    ReferralAccepted: ("accepted_at", PartnerState.ACCEPTED),
    ReferralDeclined: ("declined_at", PartnerState.DECLINED),
    AppointmentScheduled: ("scheduled_at", PartnerState.APPOINTMENT_SCHEDULED),
    ReferralOutcomeReported: ("reported_at", PartnerState.OUTCOME_REPORTED),
    ReferralClosed: ("closed_at", PartnerState.CLOSED),
}


def to_second(moment: datetime) -> datetime:
    """A partner's times are whole seconds: they never equal an internal event's time to the microsecond."""
    return moment.replace(microsecond=0)


@dataclass(frozen=True)
class ClientFacts:
    """Facts about the client the referrals service knows from the cases topic (codes only)."""

    residence_status: str | None = None
    rechtskreis: str | None = None
    languages: tuple[str, ...] = ()


@dataclass(frozen=True)
class PartnerRefs:
    """The partner's own ids of one referral, its client and its consent."""

    referral_id: str
    client_pseudonym: str
    consent_id: str


def offered(requested: ReferralRequested, *, refs: PartnerRefs, facts: ClientFacts) -> PartnerReferralSnapshot:
    """Version 1 of the partner's view: the offer."""
    shared = set(requested.data_categories)
    at = to_second(requested.requested_at)
    return PartnerReferralSnapshot(
        referral_id=refs.referral_id,
        organisation_id=requested.to_organisation_id,
        version=1,
        state=PartnerState.REQUESTED,
        client_pseudonym=refs.client_pseudonym,
        purpose=requested.purpose,
        data_categories=requested.data_categories,
        consent_id=refs.consent_id,
        due_on=requested.due_on,
        residence_status=facts.residence_status if DataCategory.RESIDENCE in shared else None,
        rechtskreis=facts.rechtskreis if DataCategory.BENEFITS in shared else None,
        languages=(list(facts.languages) or None) if DataCategory.LANGUAGE_EDUCATION in shared else None,
        appointment_on=None, outcome=None, decline_reason=None,
        offered_at=at, changed_at=at,
    )


def changes(current: PartnerReferralSnapshot | None, version: int, events: Sequence[Event]) -> list[Event]:
    """The partner events for lifecycle events after the request: a full snapshot per change, or on a revocation
    the notice and the tombstone (and nothing after). `version` is the partner stream's version before them."""
    out: list[Event] = []
    for event in events:
        if isinstance(event, ReferralRevoked):
            referral_id = current.referral_id if current else None
            if referral_id is None:
                return out  # nothing was ever shown: nothing to purge
            out.append(PartnerReferralRevoked(referral_id=referral_id, organisation_id=current.organisation_id,
                                              reason=event.reason, revoked_at=to_second(event.revoked_at)))
            out.append(PartnerReferralTombstone(referral_id=referral_id))
            return out
        change = _CHANGES.get(type(event))
        if change is None or current is None:
            continue
        field, state = change
        version += 1
        current = current.model_copy(update={
            "version": version, "state": state, "changed_at": to_second(getattr(event, field)),
            "appointment_on": getattr(event, "appointment_on", current.appointment_on),
            "outcome": getattr(event, "outcome", current.outcome),
            "decline_reason": event.reason if isinstance(event, ReferralDeclined) else current.decline_reason,
        })
        out.append(PartnerReferralSnapshot.model_validate(current.model_dump()))
    return out


@dataclass(frozen=True)
class Shown:
    """What the partner was last told about a referral: its current snapshot, or that it was revoked."""

    snapshot: PartnerReferralSnapshot | None
    revoked: PartnerReferralRevoked | None
    version: int


def fold(events: Iterable[tuple[int, Event]]) -> Shown:
    """The partner's current view from its stream's events, (version, event) in order; reads the earlier per-change
    records (PartnerReferralOffered / PartnerReferralUpdated v1, where null meant unchanged) as snapshots too."""
    snapshot: PartnerReferralSnapshot | None = None
    revoked: PartnerReferralRevoked | None = None
    version = 0
    for version, event in events:
        match event:
            case PartnerReferralSnapshot():
                snapshot = event
            case PartnerReferralOffered():
                at = to_second(event.offered_at)
                snapshot = PartnerReferralSnapshot(
                    **event.model_dump(exclude={"offered_at", "consent_valid_until"}), version=version, state=PartnerState.REQUESTED,
                    appointment_on=None, outcome=None, decline_reason=None, offered_at=at, changed_at=at)
            case PartnerReferralUpdated() if snapshot is not None:
                snapshot = snapshot.model_copy(update={
                    "version": version, "state": LEGACY_STATES[event.state],
                    "changed_at": to_second(event.updated_at),
                    "appointment_on": event.appointment_on or snapshot.appointment_on,
                    "outcome": event.outcome or snapshot.outcome})
            case PartnerReferralRevoked():
                revoked = event
    return Shown(snapshot, revoked, version)
