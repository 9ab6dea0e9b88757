"""Events on a partner's own topic kim.partner.<organisation_id>: the pseudonymous view of its referrals.

Published by the referrals service, keyed by referral_id. They carry pseudonyms and codes only — no names,
addresses or notes — and only the facts the client's consent allows this partner to see.

The topic is the current state (cleanup.policy compact,delete): every record of a referral is a full snapshot of the
partner's view (`PartnerReferralSnapshot`), counted 1, 2, 3, ... per referral (`version` = ce_streamversion = the
ETag in the partner API). A revocation publishes `PartnerReferralRevoked` (the notice: purge) and then a tombstone
(`PartnerReferralTombstone`: null value), so compaction removes everything that was shared under that key.
`PartnerReferralOffered` v1 and `PartnerReferralUpdated` v1 are the earlier per-change records: no longer
published, kept so that stored history stays readable.

Every id here is this partner's own (derived per partner with HMAC-SHA256): the referral id, the consent id, the
client pseudonym and the ce_correlationid / ce_causationid headers differ on every partner's topic and never equal
an id on the service topics (kim.cases, kim.referrals, ...), so two agencies cannot join their records."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from kim_schemas.base import Event, event
from kim_schemas.codes import (
    ConsentPurpose,
    DataCategory,
    OutcomeCode,
    Rechtskreis,
    ResidenceStatus,
    RevocationReason,
)
from kim_schemas.referrals import DeclineReason
from kim_schemas.types import Base64, Id, LanguageCode, OrganisationId, Timestamp


class PartnerState(StrEnum):
    """State of a referral as the partner sees it, the same words on the topic and in the partner API:
    requested (offered, waiting for the partner), accepted, declined, appointment_scheduled, outcome_reported,
    closed. A revoked referral has no state: it answers 410 Gone in the API and is a revocation notice followed by
    a tombstone on the topic."""

    REQUESTED = "requested"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    APPOINTMENT_SCHEDULED = "appointment_scheduled"
    OUTCOME_REPORTED = "outcome_reported"
    CLOSED = "closed"


class ReferralState(StrEnum):
    """(PartnerReferralUpdated v1 only, no longer published.) State of a referral as the partner saw it: angefragt = requested, angenommen = accepted, abgelehnt =
    declined, termin = appointment scheduled, ergebnis = outcome reported, abgeschlossen = closed."""

    REQUESTED = "angefragt"
    ACCEPTED = "angenommen"
    DECLINED = "abgelehnt"
    APPOINTMENT = "termin"
    OUTCOME = "ergebnis"
    CLOSED = "abgeschlossen"


# PartnerReferralUpdated v1's words -> the shared vocabulary (for reading stored history)
LEGACY_STATES: dict[str, PartnerState] = {
    ReferralState.REQUESTED: PartnerState.REQUESTED, ReferralState.ACCEPTED: PartnerState.ACCEPTED,
    ReferralState.DECLINED: PartnerState.DECLINED, ReferralState.APPOINTMENT: PartnerState.APPOINTMENT_SCHEDULED,
    ReferralState.OUTCOME: PartnerState.OUTCOME_REPORTED, ReferralState.CLOSED: PartnerState.CLOSED,
}


@event("kim.partner.PartnerReferralSnapshot", key="referral_id")
class PartnerReferralSnapshotV1(Event):
    """Version 1 (superseded: it carried consent_valid_until, which linked partners named in one consent).

    The current state of a referral to this partner: a full snapshot (every field as it is now; null means none,
    never "unchanged"), with the facts the consent allows this partner to see. Keep the newest version per key."""

    referral_id: Id = Field(description="Your id of the referral (the record key, and its id in the partner API "
                                        "/partner/referrals/{id}); no other topic carries it")
    organisation_id: OrganisationId = Field(description="The receiving partner (this topic's owner)")
    version: int = Field(ge=1, description="Version of your view of this referral: 1 for the offer, then 2, 3, ... "
                                           "(= ce_streamversion, and the ETag in the partner API)")
    state: PartnerState = Field(description="Current state")
    client_pseudonym: Id = Field(description="Pseudonym of the client, different for every partner (= ce_subject)")
    purpose: ConsentPurpose = Field(description="What the referral is for")
    data_categories: list[DataCategory] = Field(min_length=1, description="Categories of data shared")
    consent_id: Id = Field(description="Your id of the consent it rests on (another partner named in the same "
                                       "consent sees another id)")
    consent_valid_until: date | None = Field(description="Last day of that consent; null: until withdrawn")
    due_on: date | None = Field(description="By when the partner should act; null: no date set")
    residence_status: ResidenceStatus | None = Field(description="Only if 'aufenthalt' is shared, else null")
    rechtskreis: Rechtskreis | None = Field(description="Only if 'leistungsbezug' is shared, else null")
    languages: list[LanguageCode] | None = Field(
        description="Null for clients registered since ClientRegistered v2, whose languages are encrypted: read "
                    "them from GET /partner/referrals/{id}/person when 'sprache_bildung' is shared. Older records: "
                    "only if 'sprache_bildung' is shared, else null")
    appointment_on: date | None = Field(description="The appointment's date; null: none scheduled")
    outcome: OutcomeCode | None = Field(description="The reported outcome; null: none reported")
    decline_reason: DeclineReason | None = Field(description="Why you declined; null unless declined")
    offered_at: Timestamp = Field(description="When the referral was offered (to the second)")
    changed_at: Timestamp = Field(description="When this version came about (to the second)")



@event("kim.partner.PartnerReferralSnapshot", key="referral_id", version=2)
class PartnerReferralSnapshot(Event):
    """The current state of a referral to this partner: a full snapshot (every field as it is now; null means none,
    never "unchanged"), with the facts the consent allows this partner to see. Keep the newest version per key.

    Version 2 drops the consent's last day (`consent_valid_until`): it was the same for every partner named in one
    consent and nearly unique per client, so two partners could link their pseudonyms by it. When a consent ends,
    you are told by the revocation (PartnerReferralRevoked, reason einwilligung_abgelaufen or
    einwilligung_widerrufen) and the tombstone. The records carry no ce_municipality either."""

    referral_id: Id = Field(description="Your id of the referral (the record key, and its id in the partner API "
                                        "/partner/referrals/{id}); no other topic carries it")
    organisation_id: OrganisationId = Field(description="The receiving partner (this topic's owner)")
    version: int = Field(ge=1, description="Version of your view of this referral: 1 for the offer, then 2, 3, ... "
                                           "(= ce_streamversion, and the ETag in the partner API)")
    state: PartnerState = Field(description="Current state")
    client_pseudonym: Id = Field(description="Pseudonym of the client, different for every partner (records carry "
                                             "no ce_subject since contract 4.0.0: it is only here, inside the seal)")
    purpose: ConsentPurpose = Field(description="What the referral is for")
    data_categories: list[DataCategory] = Field(min_length=1, description="Categories of data shared")
    consent_id: Id = Field(description="Your id of the consent it rests on (another partner named in the same "
                                       "consent sees another id)")
    due_on: date | None = Field(description="By when you should act on this referral (set by the case manager for "
                                            "this referral, not a fact about the client); null: no date set")
    residence_status: ResidenceStatus | None = Field(description="Only if 'aufenthalt' is shared, else null")
    rechtskreis: Rechtskreis | None = Field(description="Only if 'leistungsbezug' is shared, else null")
    languages: list[LanguageCode] | None = Field(
        description="Null for clients registered since ClientRegistered v2, whose languages are encrypted: read "
                    "them from GET /partner/referrals/{id}/person when 'sprache_bildung' is shared. Older records: "
                    "only if 'sprache_bildung' is shared, else null")
    appointment_on: date | None = Field(description="The appointment's date; null: none scheduled")
    outcome: OutcomeCode | None = Field(description="The reported outcome; null: none reported")
    decline_reason: DeclineReason | None = Field(description="Why you declined; null unless declined")
    offered_at: Timestamp = Field(description="When the referral was offered (to the second)")
    changed_at: Timestamp = Field(description="When this version came about (to the second)")


class SealedSnapshot(BaseModel):
    """A PartnerReferralSnapshot v2 (JSON), encrypted with AES-256-GCM under this referral's own key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key_id: Id = Field(description="Id of the referral's key (GET /partner/referrals/{id}/key answers it with the key)")
    nonce: Base64 = Field(description="AES-GCM nonce (12 bytes), base64")
    ciphertext: Base64 = Field(description="Ciphertext with the 16-byte GCM tag appended, base64; associated data: "
                                           "the UTF-8 bytes of `<referral_id>:<version>`")


@event("kim.partner.PartnerReferralSealedSnapshot", key="referral_id")
class PartnerReferralSealedSnapshot(Event):
    """The current state of a referral to this partner, sealed under the referral's own key (crypto-shredding):
    `sealed` opens to a full `PartnerReferralSnapshot` v2 (validate it against that schema) with the key the partner
    API answers at GET /partner/referrals/{id}/key. A revocation destroys the key: from then on the API answers 410
    and no one can open this record again, even before compaction removes it. Keep the newest version per key."""

    referral_id: Id = Field(description="Your id of the referral (the record key, and its id in the partner API "
                                        "/partner/referrals/{id}); no other topic carries it")
    version: int = Field(ge=1, description="Version of your view of this referral: 1 for the offer, then 2, 3, ... "
                                           "(= ce_streamversion, = `version` inside, and the ETag in the partner API)")
    sealed: SealedSnapshot = Field(description="The snapshot, encrypted under the referral's key")


@event("kim.partner.PartnerReferralTombstone", key="referral_id", tombstone=True)
class PartnerReferralTombstone(Event):
    """The record after a revocation notice: key = your referral id, value null (a Kafka tombstone), so compaction
    removes every earlier record of the referral. The headers name it (ce_type); there is no data."""

    referral_id: Id = Field(description="Your id of the referral (the record key); not in the value, which is null")


@event("kim.partner.PartnerReferralOffered", key="referral_id")
class PartnerReferralOffered(Event):
    """(No longer published: see PartnerReferralSnapshot.) A referral to this partner, with the facts the consent
    allows it to see."""

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
    """(No longer published: see PartnerReferralSnapshot.) The state of a referral to this partner changed; a
    null field meant "unchanged"."""

    referral_id: Id = Field(description="Your id of the referral (the record key)")
    organisation_id: OrganisationId = Field(description="The receiving partner")
    state: ReferralState = Field(description="New state")
    appointment_on: date | None = Field(default=None, description="Appointment date, once scheduled")
    outcome: OutcomeCode | None = Field(default=None, description="Outcome, once reported")
    updated_at: Timestamp = Field(description="When")


@event("kim.partner.PartnerReferralRevoked", key="referral_id")
class PartnerReferralRevoked(Event):
    """The referral was revoked (consent withdrawn or expired, case closed, client erased): delete everything you
    received for it. A tombstone (null value) under the same key follows; the partner API answers 410 Gone."""

    referral_id: Id = Field(description="Your id of the referral (the record key)")
    organisation_id: OrganisationId = Field(description="The receiving partner")
    reason: RevocationReason = Field(description="Why")
    purge: Literal[True] = Field(default=True, description="Always true: delete all data of this referral")
    revoked_at: Timestamp = Field(description="When")
