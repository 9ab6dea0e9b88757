"""Events on a partner's own topic kim.partner.<organisation_id>: the pseudonymous view of its referrals.

Published by the referrals service, keyed by referral_id. They carry pseudonyms and codes only — no names,
addresses or notes — and only the facts the client's consent allows this partner to see.

Every id here is this partner's own (derived per partner with HMAC-SHA256): the referral id, the consent id, the
client pseudonym and the ce_correlationid / ce_causationid headers differ on every partner's topic and never equal
an id on the service topics (kim.cases, kim.referrals, ...), so two agencies cannot join their records."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Literal

from pydantic import Field

from kim_schemas.base import Event, event
from kim_schemas.codes import (
    ConsentPurpose,
    DataCategory,
    OutcomeCode,
    Rechtskreis,
    ResidenceStatus,
    RevocationReason,
)
from kim_schemas.types import Id, LanguageCode, OrganisationId, Timestamp


class ReferralState(StrEnum):
    """State of a referral as the partner sees it: angefragt = requested, angenommen = accepted, abgelehnt =
    declined, termin = appointment scheduled, ergebnis = outcome reported, abgeschlossen = closed."""

    REQUESTED = "angefragt"
    ACCEPTED = "angenommen"
    DECLINED = "abgelehnt"
    APPOINTMENT = "termin"
    OUTCOME = "ergebnis"
    CLOSED = "abgeschlossen"


@event("kim.partner.PartnerReferralOffered", key="referral_id")
class PartnerReferralOffered(Event):
    """A referral to this partner, with the facts the consent allows it to see."""

    referral_id: Id = Field(description="Your id of the referral (the record key, and its id in the partner API "
                                        "/partner/referrals/{id}); no other topic carries it")
    organisation_id: OrganisationId = Field(description="The receiving partner (this topic's owner)")
    client_pseudonym: Id = Field(description="Pseudonym of the client, different for every partner")
    purpose: ConsentPurpose = Field(description="What the referral is for")
    data_categories: list[DataCategory] = Field(min_length=1, description="Categories of data shared")
    consent_id: Id = Field(description="Your id of the consent it rests on (another partner named in the same "
                                       "consent sees another id)")
    consent_valid_until: date | None = Field(default=None, description="Last day of that consent, if limited")
    due_on: date | None = Field(default=None, description="By when the partner should act")
    residence_status: ResidenceStatus | None = Field(default=None, description="Only if 'aufenthalt' is shared")
    rechtskreis: Rechtskreis | None = Field(default=None, description="Only if 'leistungsbezug' is shared")
    languages: list[LanguageCode] | None = Field(default=None, description="Only if 'sprache_bildung' is shared")
    offered_at: Timestamp = Field(description="When the referral was requested")


@event("kim.partner.PartnerReferralUpdated", key="referral_id")
class PartnerReferralUpdated(Event):
    """The state of a referral to this partner changed."""

    referral_id: Id = Field(description="Your id of the referral (the record key)")
    organisation_id: OrganisationId = Field(description="The receiving partner")
    state: ReferralState = Field(description="New state")
    appointment_on: date | None = Field(default=None, description="Appointment date, once scheduled")
    outcome: OutcomeCode | None = Field(default=None, description="Outcome, once reported")
    updated_at: Timestamp = Field(description="When")


@event("kim.partner.PartnerReferralRevoked", key="referral_id")
class PartnerReferralRevoked(Event):
    """The referral was revoked (consent withdrawn, case closed, client erased): the partner must delete everything
    it received for it."""

    referral_id: Id = Field(description="Your id of the referral (the record key)")
    organisation_id: OrganisationId = Field(description="The receiving partner")
    reason: RevocationReason = Field(description="Why")
    purge: Literal[True] = Field(default=True, description="Always true: delete all data of this referral")
    revoked_at: Timestamp = Field(description="When")
