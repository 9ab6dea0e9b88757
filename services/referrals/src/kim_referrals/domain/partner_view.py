"""What a partner sees: the pseudonymous view of its referrals, derived from the referral's own events.

Only pseudonyms and codes, never names, addresses or notes; client facts (residence status, Rechtskreis,
languages) only when the referral shares the data category they belong to. After a revocation the partner
gets nothing more for that referral: the revocation tells it to purge what it holds.

Ids come in already derived for this partner (`PartnerRefs`): the view never carries an internal id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from kim_schemas.base import Event
from kim_schemas.codes import DataCategory
from kim_schemas.partner import (
    PartnerReferralOffered,
    PartnerReferralRevoked,
    PartnerReferralUpdated,
    ReferralState,
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


@dataclass(frozen=True)
class ClientFacts:
    """Facts about the client the referrals service knows from the cases topic (codes only)."""

    residence_status: str | None = None
    rechtskreis: str | None = None
    languages: tuple[str, ...] = ()


_STATES = {
    ReferralAccepted: ReferralState.ACCEPTED,
    ReferralDeclined: ReferralState.DECLINED,
    AppointmentScheduled: ReferralState.APPOINTMENT,
    ReferralOutcomeReported: ReferralState.OUTCOME,
    ReferralClosed: ReferralState.CLOSED,
}


@dataclass(frozen=True)
class PartnerRefs:
    """The partner's own ids of one referral, its client and its consent."""

    referral_id: str
    client_pseudonym: str
    consent_id: str


def offered(requested: ReferralRequested, *, refs: PartnerRefs, facts: ClientFacts,
            consent_valid_until: date | None) -> PartnerReferralOffered:
    shared = set(requested.data_categories)
    return PartnerReferralOffered(
        referral_id=refs.referral_id,
        organisation_id=requested.to_organisation_id,
        client_pseudonym=refs.client_pseudonym,
        purpose=requested.purpose,
        data_categories=requested.data_categories,
        consent_id=refs.consent_id,
        consent_valid_until=consent_valid_until,
        due_on=requested.due_on,
        residence_status=facts.residence_status if DataCategory.RESIDENCE in shared else None,
        rechtskreis=facts.rechtskreis if DataCategory.BENEFITS in shared else None,
        languages=(list(facts.languages) or None) if DataCategory.LANGUAGE_EDUCATION in shared else None,
        offered_at=requested.requested_at,
    )


def updates(partner_referral_id: str, organisation_id: str, events: Sequence[Event]) -> list[Event]:
    """The partner events for lifecycle events after the request (ReferralRequested is handled by `offered`)."""
    out: list[Event] = []
    for event in events:
        if isinstance(event, ReferralRevoked):
            out.append(PartnerReferralRevoked(
                referral_id=partner_referral_id, organisation_id=organisation_id, reason=event.reason,
                revoked_at=event.revoked_at,
            ))
            return out  # purged: nothing after this reaches the partner
        state = _STATES.get(type(event))
        if state is None:
            continue
        out.append(PartnerReferralUpdated(
            referral_id=partner_referral_id,
            organisation_id=organisation_id,
            state=state,
            appointment_on=getattr(event, "appointment_on", None),
            outcome=getattr(event, "outcome", None),
            updated_at=_when(event),
        ))
    return out


def _when(event: Event):
    for field in ("accepted_at", "declined_at", "scheduled_at", "reported_at", "closed_at"):
        if hasattr(event, field):
            return getattr(event, field)
    raise ValueError(f"{type(event).__name__} has no time")
