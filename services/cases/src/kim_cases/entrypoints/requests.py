"""Request bodies of the HTTP API. Codes are the event contract's enums; dates default to today."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field, field_validator
from kim_schemas.case_codes import (
    AccessChannel, ClosureReason, ConsentForm, GoalDropReason, LanguageLevel, MilestoneKind, PauseReason,
    Perspective, TeamKind, WithdrawalScope,
)
from kim_schemas.cases import DomainAssessment, Goal
from kim_schemas.codes import Baustein, ConsentPurpose, DataCategory, Rechtskreis, ResidenceStatus
from kim_schemas.types import Ags, Id, LanguageCode, OrganisationId

class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegisterClient(Body):
    name: str = Field(min_length=1, max_length=200, description="Full name (encrypted at rest, never on Kafka)")
    date_of_birth: date | None = None
    address: str | None = Field(default=None, max_length=500)
    contact: str | None = Field(default=None, max_length=200)
    birth_year: int | None = Field(default=None, ge=1900, le=2100, description="Defaults to the year of birth")
    languages: list[LanguageCode] = Field(default_factory=list)
    arrival_year: int | None = Field(default=None, ge=1900, le=2100)

    @field_validator("birth_year")
    @classmethod
    def _matches_date_of_birth(cls, v, info):
        dob = info.data.get("date_of_birth")
        if v is not None and dob is not None and v != dob.year:
            raise ValueError(f"birth_year {v} does not match date_of_birth {dob}")
        return v

    def year_of_birth(self) -> int | None:
        return self.birth_year or (self.date_of_birth.year if self.date_of_birth else None)


class OpenCase(Body):
    client_id: Id
    municipality: Ags
    baustein: Baustein = Baustein.CASE_MANAGEMENT
    team: TeamKind
    team_organisation_id: OrganisationId
    case_manager_id: Id | None = Field(default=None, description="Defaults to the caller")
    access_channel: AccessChannel
    opened_on: date = Field(default_factory=date.today)


class GrantConsent(Body):
    recipients: list[OrganisationId] = Field(min_length=1)
    purposes: list[ConsentPurpose] = Field(min_length=1)
    data_categories: list[DataCategory] = Field(min_length=1)
    special_categories: bool = False
    form: ConsentForm
    informed_in: LanguageCode
    granted_on: date = Field(default_factory=date.today)
    valid_until: date | None = None


class WithdrawConsent(Body):
    scope: WithdrawalScope = WithdrawalScope.ALL
    recipient: OrganisationId | None = None
    data_category: DataCategory | None = Field(default=None, validate_default=True)

    @field_validator("data_category")
    @classmethod
    def _target_named(cls, v, info):
        scope, recipient = info.data.get("scope"), info.data.get("recipient")
        if scope is WithdrawalScope.ONE_RECIPIENT and recipient is None:
            raise ValueError("scope 'empfaenger' needs recipient")
        if scope is WithdrawalScope.ONE_CATEGORY and v is None:
            raise ValueError("scope 'kategorie' needs data_category")
        return v


class CompleteAssessment(Body):
    assessed_on: date = Field(default_factory=date.today)
    domains: list[DomainAssessment] = Field(min_length=1)
    rechtskreis: Rechtskreis


class RecordResidenceStatus(Body):
    status: ResidenceStatus
    status_since: date
    valid_until: date | None = None
    perspective: Perspective
    recorded_on: date = Field(default_factory=date.today)


class ChangeRechtskreis(Body):
    current: Rechtskreis
    changed_on: date = Field(default_factory=date.today)


class AgreePlan(Body):
    goals: list[Goal] = Field(min_length=1)
    agreed_on: date = Field(default_factory=date.today)


class HoldReview(Body):
    held_on: date = Field(default_factory=date.today)
    notes: str | None = Field(default=None, max_length=20_000, description="Encrypted with the client's key")
    next_review_on: date | None = None


class AchieveGoal(Body):
    achieved_on: date = Field(default_factory=date.today)


class DropGoal(Body):
    reason: GoalDropReason
    dropped_on: date = Field(default_factory=date.today)


class RecordMilestone(Body):
    milestone: MilestoneKind
    reached_on: date = Field(default_factory=date.today)
    language_level: LanguageLevel | None = Field(default=None, validate_default=True)

    @field_validator("language_level")
    @classmethod
    def _level_for_certificates(cls, v, info):
        if (info.data.get("milestone") is MilestoneKind.LANGUAGE_CERTIFICATE) != (v is not None):
            raise ValueError("language_level is required for sprachzertifikat and only for it")
        return v


class TransferCase(Body):
    municipality: Ags
    team: TeamKind
    team_organisation_id: OrganisationId
    case_manager_id: Id
    transferred_on: date = Field(default_factory=date.today)


class PauseCase(Body):
    reason: PauseReason
    paused_on: date = Field(default_factory=date.today)
    expected_resume_on: date | None = None


class ResumeCase(Body):
    resumed_on: date = Field(default_factory=date.today)


class CloseCase(Body):
    reason: ClosureReason
    closed_on: date = Field(default_factory=date.today)
