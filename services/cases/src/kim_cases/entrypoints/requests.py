"""Request bodies of the HTTP API. Codes are the event contract's enums; dates default to today.

Ids, texts, dates and municipalities use the shared input types of kim_runtime.types (plausible ranges, no control
characters), stricter than the event contract's."""

from __future__ import annotations

from datetime import date

from kim_runtime.types import BirthDate, Day, Id, LanguageCode, Line, Municipality, OrganisationId, PastYear, Text
from pydantic import BaseModel, ConfigDict, Field, field_validator
from kim_schemas.case_codes import (
    AccessChannel, ClosureReason, ConsentForm, GoalDropReason, LanguageLevel, LegalHoldReason, MilestoneKind,
    PauseReason,
    Perspective, TeamKind, WithdrawalScope,
)
from kim_schemas.cases import DomainAssessment, Goal
from kim_schemas.types import FileNumber
from kim_schemas.codes import Baustein, ConsentPurpose, DataCategory, ErasureGround, Rechtskreis, ResidenceStatus

class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EraseClient(Body):
    ground: ErasureGround = Field(description="Art. 17(1) GDPR ground of the erasure")
    request_reference: FileNumber = Field(
        description="File number of the erasure request (letters, digits and / . _ -, no spaces, at most 40), so an "
                    "auditor can match the erasure to it; kept in the cases store only, never published")


class PlaceLegalHold(Body):
    reason: LegalHoldReason = Field(description="Why the client's data must be kept past its retention period")
    reference: FileNumber = Field(
        description="File number of the procedure or request (letters, digits and / . _ -, no spaces, at most 40): "
                    "an auditor matches the hold to it; sealed under the client's key on kim.cases")


class RegisterClient(Body):
    name: Line(200, min_length=1) = Field(description="Full name (encrypted at rest, never on Kafka)")
    date_of_birth: BirthDate | None = None
    address: Text(500) | None = None
    contact: Line(200) | None = None
    birth_year: PastYear | None = Field(default=None, description="Defaults to the year of birth")
    languages: list[LanguageCode] = Field(default_factory=list, max_length=20)
    arrival_year: PastYear | None = None

    @field_validator("birth_year")
    @classmethod
    def _matches_date_of_birth(cls, v, info):
        dob = info.data.get("date_of_birth")
        if v is not None and dob is not None and v != dob.year:
            raise ValueError(f"birth_year {v} does not match date_of_birth {dob}")
        return v

    def year_of_birth(self) -> int | None:
        return self.birth_year or (self.date_of_birth.year if self.date_of_birth else None)


class GoalIn(Goal):
    """A goal as the API takes it: an id and a target date that fit."""

    goal_id: Id = Field(description="Id of the goal, unique within the case")
    target_date: Day = Field(description="When the goal should be reached")


class OpenCase(Body):
    client_id: Id
    municipality: Municipality
    baustein: Baustein = Baustein.CASE_MANAGEMENT
    team: TeamKind
    team_organisation_id: OrganisationId
    case_manager_id: Id | None = Field(default=None, description="Defaults to the caller")
    access_channel: AccessChannel
    opened_on: Day = Field(default_factory=date.today)


class GrantConsent(Body):
    recipients: list[OrganisationId] = Field(min_length=1, max_length=100)
    purposes: list[ConsentPurpose] = Field(min_length=1, max_length=50)
    data_categories: list[DataCategory] = Field(min_length=1, max_length=50)
    special_categories: bool = False
    form: ConsentForm
    informed_in: LanguageCode
    granted_on: Day = Field(default_factory=date.today)
    valid_until: Day | None = None


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
    assessed_on: Day = Field(default_factory=date.today)
    domains: list[DomainAssessment] = Field(min_length=1, max_length=50)
    rechtskreis: Rechtskreis


class RecordResidenceStatus(Body):
    status: ResidenceStatus
    status_since: Day
    valid_until: Day | None = None
    perspective: Perspective
    recorded_on: Day = Field(default_factory=date.today)


class ChangeRechtskreis(Body):
    current: Rechtskreis
    changed_on: Day = Field(default_factory=date.today)


class AgreePlan(Body):
    goals: list[GoalIn] = Field(min_length=1, max_length=100)
    agreed_on: Day = Field(default_factory=date.today)


class HoldReview(Body):
    held_on: Day = Field(default_factory=date.today)
    notes: Text(20_000) | None = Field(default=None, description="Encrypted with the client's key")
    next_review_on: Day | None = None


class AchieveGoal(Body):
    achieved_on: Day = Field(default_factory=date.today)


class DropGoal(Body):
    reason: GoalDropReason
    dropped_on: Day = Field(default_factory=date.today)


class RecordMilestone(Body):
    milestone: MilestoneKind
    reached_on: Day = Field(default_factory=date.today)
    language_level: LanguageLevel | None = Field(default=None, validate_default=True)

    @field_validator("language_level")
    @classmethod
    def _level_for_certificates(cls, v, info):
        if (info.data.get("milestone") is MilestoneKind.LANGUAGE_CERTIFICATE) != (v is not None):
            raise ValueError("language_level is required for sprachzertifikat and only for it")
        return v


class TransferCase(Body):
    municipality: Municipality
    team: TeamKind
    team_organisation_id: OrganisationId
    case_manager_id: Id
    transferred_on: Day = Field(default_factory=date.today)


class PauseCase(Body):
    reason: PauseReason
    paused_on: Day = Field(default_factory=date.today)
    expected_resume_on: Day | None = None


class ResumeCase(Body):
    resumed_on: Day = Field(default_factory=date.today)


class CloseCase(Body):
    reason: ClosureReason
    closed_on: Day = Field(default_factory=date.today)
