"""Request and response bodies of the HTTP API (the OpenAPI document at /docs shows them)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from kim_runtime.types import Day, Id, Line, Municipality, OrganisationId
from kim_schemas.codes import PERSON_FIELDS, ConsentPurpose, DataCategory, OutcomeCode, PartnerKind
from kim_schemas.referrals import DeclineReason
from pydantic import BaseModel, ConfigDict, Field


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PartnerIn(_In):
    organisation_id: OrganisationId = Field(description="Id; also the suffix of its topic kim.partner.<id>")
    name: Line(200, min_length=1)
    kind: PartnerKind
    public_body: bool = Field(default=False, description="A public body (Behörde) or not")
    municipality: Municipality | None = None


class ReferralIn(_In):
    case_id: Id
    to_organisation_id: OrganisationId = Field(description="The receiving partner")
    purpose: ConsentPurpose
    data_categories: list[DataCategory] = Field(min_length=1, max_length=50,
                                                description="What is shared with the partner")
    consent_id: Id | None = Field(default=None, description="The consent it rests on; empty: the service finds one")
    due_on: Day | None = None


class DeclineIn(_In):
    reason: DeclineReason


class AppointmentIn(_In):
    appointment_on: Day


class OutcomeIn(_In):
    outcome: OutcomeCode


class HistoryItem(BaseModel):
    version: int
    type: str
    time: datetime
    actor: str | None
    data: dict


class ReferralOut(BaseModel):
    """The case side's view of a referral."""

    referral_id: str
    case_id: str
    to_organisation_id: str
    partner_referral_id: str | None = Field(
        default=None, description="The id the partner knows this referral by (its topic's key, its partner API id); "
                                  "give it to the partner when you talk about the referral")
    consent_id: str
    purpose: str
    data_categories: list[str]
    state: str
    due_on: date | None
    appointment_on: date | None
    outcome: str | None
    decline_reason: str | None
    revocation_reason: str | None
    version: int
    requested_at: datetime
    updated_at: datetime
    history: list[HistoryItem] | None = None


_SHARES = "; ".join(f"{c.value}: {', '.join(fields)}" for c, fields in PERSON_FIELDS.items())


class PersonOut(BaseModel):
    __doc__ = ("The client's personal data a consent shares with the partner: only the fields of the granted "
               f"categories ({_SHARES}), read from the cases service on request.")

    referral_id: str = Field(description="Your id of the referral")
    categories: list[str] = Field(description="The categories shared, of "
                                              f"{', '.join(c.value for c in PERSON_FIELDS)} (empty: none)")
    person: dict[str, str | list[str] | None] = Field(
        description="The fields of those categories, in clear (languages: a list of ISO 639 codes)")


class PartnerOut(BaseModel):
    organisation_id: str
    name: str
    kind: str
    public_body: bool
    municipality: str | None
    topic: str


class PartnerCredentialOut(BaseModel):
    organisation_id: str
    credential_id: str = Field(description="The `credential` claim of the token; the partner's current credential")
    token: str = Field(description="The partner's bearer token for the partner API: shown once, not stored")
    issued_at: datetime
    expires_at: datetime = Field(description="When the token expires: rotate before (kim partner rotate)")


class ConsentOut(BaseModel):
    """A consent as the referrals service's gate knows it from kim.cases: its scope and what ended or narrowed it, in
    event order. Its dates stay in the cases service, which decides whether it covers a referral on a day."""
    consent_id: str
    recipients: list[str] = Field(description="As granted; see withdrawn_recipients")
    purposes: list[str]
    data_categories: list[str] = Field(description="As granted; see withdrawn_categories")
    expired_at: datetime | None = Field(description="When it expired (kim.cases ConsentExpired)")
    withdrawn_at: datetime | None = Field(description="When it was withdrawn as a whole")
    withdrawn_recipients: list[str] = Field(description="Recipients it was withdrawn for")
    withdrawn_categories: list[str] = Field(description="Data categories it was withdrawn for")


class ReferralKeyOut(BaseModel):
    """The key of one of your referrals: it opens the `sealed` snapshot of every record of that key on your topic."""

    referral_id: str = Field(description="Your id of the referral (the record key)")
    key_id: str = Field(description="The key's id, as in each sealed snapshot's `sealed.key_id`")
    algorithm: Literal["AES-256-GCM"] = Field(description="AES-GCM with a 256-bit key, 12-byte nonce, 16-byte tag")
    key: str = Field(description="The key (32 bytes), base64. Keep it with the referral; delete it with the referral "
                                 "on its revocation notice")
    associated_data: str = Field(description="The associated data of the referral's sealed snapshot of version N: "
                                             "this text with {version} replaced by N, as UTF-8 bytes")
