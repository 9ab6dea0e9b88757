"""Events of the referrals service (topic kim.referrals): partners and referrals to them.

Partner events are keyed by organisation_id, referral events by referral_id. A referral needs a consent that
covers its recipient, purpose and data categories."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import Field

from kim_schemas.base import Event, event
from kim_schemas.codes import ConsentPurpose, DataCategory, OutcomeCode, PartnerKind, RevocationReason
from kim_schemas.types import Ags, Id, OrganisationId, Timestamp


CaseRef = Annotated[
    Id | None, Field(description="The case of the referral; the referrals service always sets it (optional since v1)")
]


class DeclineReason(StrEnum):
    """Why a partner declined a referral: nicht_zustaendig = not responsible, keine_kapazitaet = no capacity,
    voraussetzungen_fehlen = preconditions not met, sonstiges = other."""

    NOT_RESPONSIBLE = "nicht_zustaendig"
    NO_CAPACITY = "keine_kapazitaet"
    PRECONDITIONS_MISSING = "voraussetzungen_fehlen"
    OTHER = "sonstiges"


@event("kim.referrals.PartnerRegistered", key="organisation_id")
class PartnerRegistered(Event):
    """A partner organisation was registered; it reads its referrals on kim.partner.<organisation_id>."""

    organisation_id: OrganisationId = Field(description="Id of the organisation (stream id, topic suffix)")
    name: str = Field(min_length=1, max_length=200, description="Name of the organisation (not personal data)")
    kind: PartnerKind = Field(description="Kind of organisation")
    municipality: Ags | None = Field(default=None, description="Municipality it serves, if local (AGS)")
    public_body: bool = Field(
        default=False, description="True for a public body (Behörde, e.g. ABH, Jobcenter); false for a private one"
    )


@event("kim.referrals.ReferralRequested", key="referral_id")
class ReferralRequested(Event):
    """A case manager referred a client to a partner, on the basis of a consent."""

    referral_id: Id = Field(description="Id of the referral (stream id)")
    case_id: Id = Field(description="The case")
    from_organisation_id: OrganisationId = Field(description="Referring organisation")
    to_organisation_id: OrganisationId = Field(description="Receiving partner")
    purpose: ConsentPurpose = Field(description="What the referral is for")
    data_categories: list[DataCategory] = Field(min_length=1, description="Categories of data shared with it")
    consent_id: Id = Field(description="The consent the referral rests on")
    due_on: date | None = Field(default=None, description="By when the partner should act")
    requested_at: Timestamp = Field(description="When it was requested")


@event("kim.referrals.ReferralAccepted", key="referral_id")
class ReferralAccepted(Event):
    """The partner accepted the referral."""

    referral_id: Id = Field(description="The referral")
    case_id: CaseRef = None
    accepted_at: Timestamp = Field(description="When")


@event("kim.referrals.ReferralDeclined", key="referral_id")
class ReferralDeclined(Event):
    """The partner declined the referral."""

    referral_id: Id = Field(description="The referral")
    case_id: CaseRef = None
    reason: DeclineReason = Field(description="Why")
    declined_at: Timestamp = Field(description="When")


@event("kim.referrals.AppointmentScheduled", key="referral_id")
class AppointmentScheduled(Event):
    """The partner gave the client an appointment."""

    referral_id: Id = Field(description="The referral")
    case_id: CaseRef = None
    appointment_on: date = Field(description="Date of the appointment")
    scheduled_at: Timestamp = Field(description="When it was scheduled")


@event("kim.referrals.ReferralOutcomeReported", key="referral_id")
class ReferralOutcomeReported(Event):
    """The partner reported an outcome. The cases service reads it (case_id says which case) for its monitoring."""

    referral_id: Id = Field(description="The referral")
    case_id: CaseRef = None
    outcome: OutcomeCode = Field(description="Outcome code")
    reported_at: Timestamp = Field(description="When")


@event("kim.referrals.ReferralClosed", key="referral_id")
class ReferralClosed(Event):
    """The referral is finished."""

    referral_id: Id = Field(description="The referral")
    case_id: CaseRef = None
    closed_at: Timestamp = Field(description="When")


@event("kim.referrals.ReferralRevoked", key="referral_id")
class ReferralRevoked(Event):
    """The referral was revoked (consent withdrawn, case closed or client erased); the partner must purge its data."""

    referral_id: Id = Field(description="The referral")
    case_id: CaseRef = None
    reason: RevocationReason = Field(description="Why")
    consent_id: Id | None = Field(default=None, description="The withdrawn consent, if that is the reason")
    revoked_at: Timestamp = Field(description="When")


FollowUpId = Annotated[Id, Field(description="Stream of the referral's follow-ups: wv-<referral id>; kept apart from "
                                             "the referral's own stream, so a reminder never changes its version")]


@event("kim.referrals.ReferralOverdue", key="follow_up_id")
class ReferralOverdue(Event):
    """Follow-up (Wiedervorlage): the partner did not answer (accept or decline) by the referral's due_on."""

    follow_up_id: FollowUpId
    referral_id: Id = Field(description="The referral")
    case_id: CaseRef = None
    due_on: date = Field(description="The day the answer was due")


@event("kim.referrals.AppointmentOutcomeMissing", key="follow_up_id")
class AppointmentOutcomeMissing(Event):
    """Follow-up (Wiedervorlage): the appointment day passed and the partner reported no outcome."""

    follow_up_id: FollowUpId
    referral_id: Id = Field(description="The referral")
    case_id: CaseRef = None
    appointment_on: date = Field(description="The day of the appointment")


@event("kim.referrals.ConsentChecked", key="request_id")
class ConsentChecked(Event):
    """The consent gate's decision on a referral request: which consent it looked at, what the request needed
    (recipient × purpose × data categories on that day), what the consent granted, and whether it was met and why
    not. Written in the same append as ReferralRequested when met (its stream is the referral's); a refused request
    gets a stream of its own. For audit (`kim audit referral`); internal: never translated to a partner topic."""

    request_id: Id = Field(description="Stream id: the referral's id when met, the refused request's own id otherwise")
    referral_id: Id | None = Field(default=None, description="The referral made on this decision (None: refused)")
    case_id: Id = Field(description="The case")
    consent_id: Id | None = Field(default=None, description="The consent the decision rests on (when refused: the "
                                  "closest one examined; None when the case has no consent)")
    recipient: OrganisationId = Field(description="The receiving partner the request named")
    purpose: ConsentPurpose = Field(description="The purpose the request named")
    categories_required: list[DataCategory] = Field(description="Data categories the request shares")
    categories_granted: list[DataCategory] = Field(default_factory=list, description="Data categories the consent "
                                                   "grants (withdrawn ones left out)")
    recipients_granted: list[OrganisationId] = Field(default_factory=list, description="Recipients the consent "
                                                     "names (withdrawn ones left out)")
    purposes_granted: list[ConsentPurpose] = Field(default_factory=list, description="Purposes the consent names")
    valid_from: date | None = Field(default=None, description="The consent's first day (granted_on)")
    valid_until: date | None = Field(default=None, description="The consent's last day, if any")
    withdrawn: bool = Field(default=False, description="The consent was withdrawn as a whole")
    checked_on: date = Field(description="The day the conditions were checked for")
    met: bool = Field(description="True: the consent covers the request; False: the request was refused")
    reasons: list[str] = Field(default_factory=list, description="Every condition that failed (empty when met)")
    checked_at: Timestamp = Field(description="When the gate decided")


class FeedbackProblem(StrEnum):
    """What was wrong with a record a partner could not read: not-json = the value is not JSON, unknown-type =
    a ce_type it does not know, unknown-version = a ce_schemaversion it does not know, invalid-data = the data does
    not validate against its schema, other = anything else (see detail)."""

    NOT_JSON = "not-json"
    UNKNOWN_TYPE = "unknown-type"
    UNKNOWN_VERSION = "unknown-version"
    INVALID_DATA = "invalid-data"
    OTHER = "other"


@event("kim.referrals.PartnerFeedbackReceived", key="feedback_id")
class PartnerFeedbackReceivedV1(Event):
    """Version 1 (superseded): the partner's free text (`detail`) travelled in clear."""

    feedback_id: Id = Field(description="Id of the report (stream id)")
    organisation_id: OrganisationId = Field(description="The partner that reported it")
    topic: str = Field(max_length=255, description="The topic the record was on")
    partition: int | None = Field(default=None, ge=0, description="Its partition, if known")
    offset: int | None = Field(default=None, ge=0, description="Its offset, if known")
    key: str | None = Field(default=None, max_length=100, description="Its key (the partner's referral id), if any")
    ce_id: str | None = Field(default=None, max_length=100, description="Its ce_id, if it had one")
    ce_type: str | None = Field(default=None, max_length=200, description="Its ce_type, if it had one")
    ce_schemaversion: str | None = Field(default=None, max_length=10, description="Its ce_schemaversion, if any")
    problem: FeedbackProblem = Field(description="What was wrong")
    detail: str = Field(default="", max_length=500, description="The partner's words (no personal data)")
    received_at: Timestamp = Field(description="When the report came in")


@event("kim.referrals.PartnerFeedbackReceived", key="feedback_id", version=2)
class PartnerFeedbackReceived(Event):
    """A partner reported a record on its topic it could not read (POST /partner/feedback); the Kreis's operators
    list these (GET /partner-feedback). Version 2 no longer carries the partner's words (`detail`): nothing checks
    free text for personal data, and the topic keeps it forever. The referrals service keeps them in its store
    (table partner_feedback_details), deleted when the referral the report names is revoked. Upcast from version 1
    without them."""

    feedback_id: Id = Field(description="Id of the report (stream id)")
    organisation_id: OrganisationId = Field(description="The partner that reported it")
    topic: str = Field(max_length=255, description="The topic the record was on")
    partition: int | None = Field(default=None, ge=0, description="Its partition, if known")
    offset: int | None = Field(default=None, ge=0, description="Its offset, if known")
    key: str | None = Field(default=None, max_length=100, description="Its key (the partner's referral id), if any")
    ce_id: str | None = Field(default=None, max_length=100, description="Its ce_id, if it had one")
    ce_type: str | None = Field(default=None, max_length=200, description="Its ce_type, if it had one")
    ce_schemaversion: str | None = Field(default=None, max_length=10, description="Its ce_schemaversion, if any")
    problem: FeedbackProblem = Field(description="What was wrong")
    received_at: Timestamp = Field(description="When the report came in")


@event("kim.referrals.PartnerCredentialIssued", key="organisation_id")
class PartnerCredentialIssued(Event):
    """A partner organisation was given a new partner API credential (`kim partner onboard` / `kim partner rotate`):
    from now on only tokens carrying this credential id are accepted for it; every earlier one is refused. The token
    itself is shown once to the operator and is not part of the event."""

    organisation_id: OrganisationId = Field(description="The partner (its stream id)")
    credential_id: Id = Field(description="Id of the credential; the `credential` claim of its tokens")
    issued_at: Timestamp = Field(description="When it was issued")
    expires_at: Timestamp = Field(description="When its token expires (rotate before)")
