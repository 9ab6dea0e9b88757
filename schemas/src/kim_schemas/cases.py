"""Events of the cases service (topic kim.cases): clients, consent and the case from intake to closure.

Client events are keyed by client_id, all others by case_id. Personal data is only ever inside ``Encrypted``."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kim_schemas.base import Event, event
from kim_schemas.case_codes import (
    AccessChannel,
    ClosureReason,
    ConsentForm,
    GoalDropReason,
    LanguageLevel,
    LegalHoldReason,
    Level,
    MilestoneKind,
    PauseReason,
    Perspective,
    TeamKind,
    WithdrawalScope,
)
from kim_schemas.codes import (
    Baustein, ConsentPurpose, DataCategory, ErasureGround, ErasureReason, LifeDomain, Rechtskreis, ResidenceStatus,
)
from kim_schemas.sealing import MaybeSealed, Sealed, SealedEvent
from kim_schemas.types import Ags, Encrypted, FileNumber, Id, LanguageCode, OrganisationId, Timestamp

CaseId = Annotated[Id, Field(description="Pseudonymous id of the case (stream id)")]
ClientId = Annotated[Id, Field(description="Pseudonymous id of the client; never a name")]
Year = Annotated[int, Field(ge=1900, le=2100)]


class PersonalData(BaseModel):
    """What the ``personal`` ciphertext of ClientRegistered contains once decrypted (never on the wire in clear)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="Full name as the client gives it")
    date_of_birth: date | None = Field(default=None, description="Date of birth")
    address: str | None = Field(default=None, description="Postal address")
    contact: str | None = Field(default=None, description="Phone number or e-mail address")


class ClientProfile(BaseModel):
    """What the ``profile`` ciphertext of ClientRegistered v2 contains once decrypted: the facts that, together,
    could single a person out (never on the wire in clear)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    birth_year: Year | None = Field(default=None, description="Year of birth")
    languages: list[LanguageCode] = Field(default_factory=list, description="Languages the client speaks")
    arrival_year: Year | None = Field(default=None, description="Year of arrival in Germany")


def year_band(year: int | None, width: int) -> str | None:
    """The band of ``width`` years a year falls in, e.g. 1987 with width 10 -> '1980-1989' (None stays None)."""
    if year is None:
        return None
    start = year - year % width
    return f"{start}-{start + width - 1}"


BIRTH_BAND_YEARS, ARRIVAL_BAND_YEARS = 10, 5
YearBand = Annotated[str, Field(pattern=r"^[0-9]{4}-[0-9]{4}$")]


@event("kim.cases.ClientRegistered", key="client_id")
class ClientRegisteredV1(Event):
    """Version 1 (superseded): birth year, languages and arrival year travelled in clear."""

    client_id: ClientId
    personal: Encrypted = Field(description="Encrypted PersonalData: name, date of birth, address, contact")
    birth_year: Year | None = Field(default=None, description="Year of birth, in clear for reporting")
    languages: list[LanguageCode] = Field(default_factory=list, description="Languages the client speaks")
    arrival_year: Year | None = Field(default=None, description="Year of arrival in Germany")


@event("kim.cases.ClientRegistered", key="client_id", version=2)
class ClientRegisteredV2(Event):
    """A client was registered. Name, date of birth, address and contact (``personal``) and birth year, languages
    and arrival year (``profile``) are encrypted with the client's key, so erasure (destroying the key) leaves
    nothing that singles the person out. In clear only coarse bands: the decade of birth and the five-year period
    of arrival. Version 2; upcast from version 1 with the bands computed and no profile (version 1 data on the
    topic and in the stores keeps its clear values: the log is immutable)."""

    client_id: ClientId
    personal: Encrypted = Field(description="Encrypted PersonalData: name, date of birth, address, contact")
    profile: Encrypted | None = Field(default=None, description="Encrypted ClientProfile: birth year, languages, "
                                                                "arrival year; none on data upcast from version 1")
    birth_band: YearBand | None = Field(default=None, description="Decade of birth, e.g. 1980-1989")
    arrival_band: YearBand | None = Field(default=None, description="Five-year period of arrival in Germany, "
                                                                    "e.g. 2015-2019")


@event("kim.cases.ClientRegistered", key="client_id", version=3)
class ClientRegistered(Event):
    """A client was registered. Name, date of birth, address and contact (``personal``) and birth year, languages
    and arrival year (``profile``) are encrypted with the client's key, so erasure (destroying the key) leaves
    nothing that singles the person out. Version 3 drops the bands version 2 carried in clear (decade of birth,
    five-year period of arrival): with the municipality, the team and the case manager they singled out 102 of 252
    demo clients, survived erasure, and no service but the cases service (which opens ``profile``) reads them.
    Upcast from version 2 without the bands (version 1 and 2 records on the topic keep theirs: the log is
    immutable)."""

    client_id: ClientId
    personal: Encrypted = Field(description="Encrypted PersonalData: name, date of birth, address, contact")
    profile: Encrypted | None = Field(default=None, description="Encrypted ClientProfile: birth year, languages, "
                                                                "arrival year; none on data upcast from version 1")


@event("kim.cases.CaseOpened", key="case_id")
class CaseOpenedV1(Event):
    """Intake (Erstkontakt): a case was opened for a registered client."""

    case_id: CaseId
    client_id: ClientId
    municipality: Ags = Field(description="Municipality of the case (AGS)")
    baustein: Baustein = Field(description="Building block the case is counted under")
    team: TeamKind = Field(description="Kind of team that runs the case")
    team_organisation_id: OrganisationId = Field(description="Organisation of that team, e.g. kreis-unna")
    case_manager_id: Id = Field(description="Staff member managing the case (pseudonymous staff id)")
    access_channel: AccessChannel = Field(description="How the client came to case management")
    opened_on: date = Field(description="Date of the first contact")


@event("kim.cases.ConsentGranted", key="case_id")
class ConsentGrantedV1(Event):
    """Version 1 (superseded): the language the client was informed in stood in clear."""

    case_id: CaseId
    consent_id: Id = Field(description="Id of this consent; referrals name it")
    recipients: list[OrganisationId] = Field(min_length=1, description="Organisations that may receive data")
    purposes: list[ConsentPurpose] = Field(min_length=1, description="Purposes the data may be used for")
    data_categories: list[DataCategory] = Field(min_length=1, description="Categories of data that may be shared")
    special_categories: bool = Field(description="True if special categories (e.g. health, Art. 9 GDPR) are included")
    form: ConsentForm = Field(description="Written or electronic")
    informed_in: LanguageCode = Field(description="Language the client was informed in")
    granted_on: date = Field(description="Date the consent was given")
    valid_until: date | None = Field(default=None, description="Last day the consent is valid; none = until withdrawn")
    recorded_by: Id = Field(description="Staff member who recorded the consent (proof)")



@event("kim.cases.ConsentGranted", key="case_id", version=2)
class ConsentGrantedV2(Event):
    """The client consented to sharing: recipients x purposes x data categories (Einwilligung).

    Version 2 encrypts the language the client was informed in with the client's key (``informed_in`` holds
    an Encrypted ``{"informed_in": code}``): a rare language with a municipality and a date can single a person
    out, and erasure destroys the key. Consents recorded as version 1 keep their code in clear (the log is
    immutable); an upcast version 1 record carries it as the plain code."""

    case_id: CaseId
    consent_id: Id = Field(description="Id of this consent; referrals name it")
    recipients: list[OrganisationId] = Field(min_length=1, description="Organisations that may receive data")
    purposes: list[ConsentPurpose] = Field(min_length=1, description="Purposes the data may be used for")
    data_categories: list[DataCategory] = Field(min_length=1, description="Categories of data that may be shared")
    special_categories: bool = Field(description="True if special categories (e.g. health, Art. 9 GDPR) are included")
    form: ConsentForm = Field(description="Written or electronic")
    informed_in: Encrypted | LanguageCode = Field(
        description="Encrypted {informed_in: language code}: the language the client was informed in; the plain "
                    "code only on consents recorded as version 1")
    granted_on: date = Field(description="Date the consent was given")
    valid_until: date | None = Field(default=None, description="Last day the consent is valid; none = until withdrawn")
    recorded_by: Id = Field(description="Staff member who recorded the consent (proof)")


@event("kim.cases.ConsentWithdrawn", key="case_id")
class ConsentWithdrawnV1(Event):
    """The client withdrew consent, wholly or for one recipient or one data category."""

    case_id: CaseId
    consent_id: Id = Field(description="The consent being withdrawn")
    scope: WithdrawalScope = Field(description="All, one recipient or one data category")
    recipient: OrganisationId | None = Field(default=None, description="The recipient, when scope is empfaenger")
    data_category: DataCategory | None = Field(default=None, description="The category, when scope is kategorie")
    effective_at: Timestamp = Field(description="From when the withdrawal takes effect")

    @model_validator(mode="after")
    def _scope_names_its_target(self) -> ConsentWithdrawnV1:
        if self.scope is WithdrawalScope.ONE_RECIPIENT and self.recipient is None:
            raise ValueError("scope 'empfaenger' needs recipient")
        if self.scope is WithdrawalScope.ONE_CATEGORY and self.data_category is None:
            raise ValueError("scope 'kategorie' needs data_category")
        return self


class DomainAssessment(BaseModel):
    """Need and resources in one life domain."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    domain: LifeDomain = Field(description="The life domain")
    need: Level = Field(description="How much support is needed")
    resources: Level = Field(description="How much the client (and their network) can do on their own")


@event("kim.cases.AssessmentCompleted", key="case_id")
class AssessmentCompletedV1(Event):
    """Version 1 (superseded): needs and resources per life domain stood in clear."""

    case_id: CaseId
    assessed_on: date = Field(description="Date of the assessment")
    domains: list[DomainAssessment] = Field(min_length=1, description="Needs and resources per life domain")
    rechtskreis: Rechtskreis = Field(description="Legal frame the client's support falls under")



@event("kim.cases.AssessmentCompleted", key="case_id", version=2)
class AssessmentCompletedV2(Event):
    """The assessment (Clearing) was completed.

    Version 2 encrypts needs and resources per life domain with the client's key (``domains`` holds an Encrypted
    ``{"domains": [...]}``): they include health (gesundheit, a special category under Art. 9 GDPR) and
    describe one person; erasure destroys the key. The date and the Rechtskreis stay in clear (reporting, the
    consent gate). Assessments recorded as version 1 keep their list in clear (the log is immutable)."""

    case_id: CaseId
    assessed_on: date = Field(description="Date of the assessment")
    domains: Encrypted | Annotated[list[DomainAssessment], Field(min_length=1)] = Field(
        description="Encrypted {domains: [DomainAssessment]}: needs and resources per life domain; the plain list "
                    "only on assessments recorded as version 1")
    rechtskreis: Rechtskreis = Field(description="Legal frame the client's support falls under")


@event("kim.cases.ResidenceStatusRecorded", key="case_id")
class ResidenceStatusRecordedV1(Event):
    """Version 1 (superseded): the client's residence status as recorded."""

    case_id: CaseId
    status: ResidenceStatus = Field(description="Residence status code")
    valid_until: date | None = Field(default=None, description="Expiry of the permit or toleration")
    perspective: Perspective = Field(description="How secure the residence perspective is")
    recorded_on: date = Field(description="Date the status was recorded")


@event("kim.cases.ResidenceStatusRecorded", key="case_id", version=2)
class ResidenceStatusRecordedV2(Event):
    """Version 2 (superseded): adds status_since; upcast from version 1 with status_since = recorded_on."""

    case_id: CaseId
    status: ResidenceStatus = Field(description="Residence status code")
    status_since: date = Field(description="Since when the client holds this status")
    valid_until: date | None = Field(default=None, description="Expiry of the permit or toleration")
    perspective: Perspective = Field(description="How secure the residence perspective is")
    recorded_on: date = Field(description="Date the status was recorded")


class ResidenceDates(BaseModel):
    """What the ``dates`` ciphertext of ResidenceStatusRecorded v3 contains once decrypted."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    status_since: date = Field(description="Since when the client holds this status")
    valid_until: date | None = Field(default=None, description="Expiry of the permit or toleration")


@event("kim.cases.ResidenceStatusRecorded", key="case_id", version=3)
class ResidenceStatusRecordedV3(Event):
    """The client's residence status (Aufenthaltsstatus). The status code, the perspective and the recording date
    stay in clear (reporting's status mix and status improvements, the consent gate's residence facts); since when
    the client holds it and until when it is valid are exact dates of one person's file, so version 3 encrypts
    them with the client's key (``dates``; gone with the key on erasure). Upcast from version 2 without dates
    (version 2 data on the topic and in the stores keeps them: the log is immutable)."""

    case_id: CaseId
    status: ResidenceStatus = Field(description="Residence status code")
    perspective: Perspective = Field(description="How secure the residence perspective is")
    recorded_on: date = Field(description="Date the status was recorded")
    dates: Encrypted | None = Field(default=None, description="Encrypted ResidenceDates: status_since, valid_until; "
                                                              "none on data upcast from version 2")


@event("kim.cases.RechtskreisChanged", key="case_id")
class RechtskreisChangedV1(Event):
    """The legal frame of the client's support changed (e.g. AsylbLG to SGB II after recognition)."""

    case_id: CaseId
    previous: Rechtskreis | None = Field(default=None, description="Rechtskreis before; none if unknown")
    current: Rechtskreis = Field(description="Rechtskreis from now on")
    changed_on: date = Field(description="Date of the change")


class Goal(BaseModel):
    """One goal of the integration plan."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    goal_id: Id = Field(description="Id of the goal, unique within the case")
    domain: LifeDomain = Field(description="Life domain of the goal")
    target_date: date = Field(description="When the goal should be reached")
    responsible_organisation_id: OrganisationId = Field(description="Organisation responsible for the goal")


@event("kim.cases.IntegrationPlanAgreed", key="case_id")
class IntegrationPlanAgreedV1(Event):
    """Version 1 (superseded): the goals (life domain, target date, responsible organisation) stood in clear."""

    case_id: CaseId
    plan_id: Id = Field(description="Id of this plan version")
    goals: list[Goal] = Field(min_length=1, description="The agreed goals")
    agreed_on: date = Field(description="Date the plan was agreed")



@event("kim.cases.IntegrationPlanAgreed", key="case_id", version=2)
class IntegrationPlanAgreedV2(Event):
    """The client and the case manager agreed an integration plan (Hilfeplan) with goals.

    Version 2 encrypts the goals with the client's key (``goals`` holds an Encrypted ``{"goals": [Goal]}``): a
    goal in the life domain gesundheit is health data, and the goals with their dates and organisations describe
    one person. ``goal_ids`` stay in clear, so goals can be achieved and dropped after an erasure closed the file.
    Plans recorded as version 1 keep their goals in clear (the log is immutable); upcast, they gain goal_ids."""

    case_id: CaseId
    plan_id: Id = Field(description="Id of this plan version")
    goal_ids: list[Id] = Field(min_length=1, description="Ids of the agreed goals, in the plan's order")
    goals: Encrypted | Annotated[list[Goal], Field(min_length=1)] = Field(
        description="Encrypted {goals: [Goal]}: the agreed goals; the plain list only on plans recorded as version 1")
    agreed_on: date = Field(description="Date the plan was agreed")


@event("kim.cases.ReviewHeld", key="case_id")
class ReviewHeldV1(Event):
    """A review of the plan took place. Notes are personal data and therefore encrypted."""

    case_id: CaseId
    review_id: Id = Field(description="Id of the review")
    held_on: date = Field(description="Date of the review")
    notes: Encrypted | None = Field(default=None, description="Encrypted counselling notes (never shared)")
    next_review_on: date | None = Field(default=None, description="Date of the next review, if planned")


@event("kim.cases.GoalAchieved", key="case_id")
class GoalAchievedV1(Event):
    """A goal of the plan was achieved."""

    case_id: CaseId
    goal_id: Id = Field(description="The goal")
    achieved_on: date = Field(description="Date it was achieved")


@event("kim.cases.GoalDropped", key="case_id")
class GoalDroppedV1(Event):
    """A goal of the plan was dropped."""

    case_id: CaseId
    goal_id: Id = Field(description="The goal")
    reason: GoalDropReason = Field(description="Why it was dropped")
    dropped_on: date = Field(description="Date it was dropped")


@event("kim.cases.MilestoneRecorded", key="case_id")
class MilestoneRecordedV1(Event):
    """An integration milestone was reached (course start, certificate, job, naturalisation, ...)."""

    case_id: CaseId
    milestone: MilestoneKind = Field(description="Which milestone")
    reached_on: date = Field(description="Date it was reached")
    language_level: LanguageLevel | None = Field(
        default=None, description="Level of the certificate; required for sprachzertifikat, else empty"
    )

    @model_validator(mode="after")
    def _certificate_has_level(self) -> MilestoneRecordedV1:
        is_certificate = self.milestone is MilestoneKind.LANGUAGE_CERTIFICATE
        if is_certificate != (self.language_level is not None):
            raise ValueError("language_level is required for sprachzertifikat and only for it")
        return self


@event("kim.cases.CaseTransferred", key="case_id")
class CaseTransferredV1(Event):
    """The case moved to another team, municipality or case manager."""

    case_id: CaseId
    municipality: Ags = Field(description="Municipality of the case from now on")
    team: TeamKind = Field(description="Kind of the receiving team")
    team_organisation_id: OrganisationId = Field(description="Organisation of the receiving team")
    case_manager_id: Id = Field(description="Case manager from now on")
    transferred_on: date = Field(description="Date of the transfer")


@event("kim.cases.CasePaused", key="case_id")
class CasePausedV1(Event):
    """The case is paused (it stays open but is not counted as active)."""

    case_id: CaseId
    reason: PauseReason = Field(description="Why the case is paused")
    paused_on: date = Field(description="First day of the pause")
    expected_resume_on: date | None = Field(default=None, description="When work is expected to resume")


@event("kim.cases.CaseResumed", key="case_id")
class CaseResumedV1(Event):
    """Work on a paused case resumed."""

    case_id: CaseId
    resumed_on: date = Field(description="Date work resumed")


@event("kim.cases.CaseClosed", key="case_id")
class CaseClosedV1(Event):
    """The case was closed, with a reason and its goal figures."""

    case_id: CaseId
    reason: ClosureReason = Field(description="Why the case was closed")
    closed_on: date = Field(description="Date of closure")
    goals_agreed: int = Field(ge=0, description="Number of goals agreed over the whole case")
    goals_achieved: int = Field(ge=0, description="Number of those goals achieved")
    duration_days: int = Field(ge=0, description="Days from opened_on to closed_on, pauses included")

    @model_validator(mode="after")
    def _achieved_within_agreed(self) -> CaseClosedV1:
        if self.goals_achieved > self.goals_agreed:
            raise ValueError("goals_achieved cannot exceed goals_agreed")
        return self


@event("kim.cases.ClientErased", key="client_id")
class ClientErasedV1(Event):
    """Version 1 (superseded): the erasure request's reference travelled in clear (free text up to contract 5)."""

    client_id: ClientId
    key_id: Id = Field(description="The destroyed key")
    erased_at: Timestamp = Field(description="When the key was destroyed")
    ground: ErasureGround | None = Field(default=None, description="Art. 17(1) GDPR ground (absent on erasures "
                                                                   "recorded before it was asked)")
    request_reference: str | None = Field(default=None, max_length=100,
                                          description="Reference of the erasure request, e.g. its file number")
    reason: ErasureReason | None = Field(default=None, description="antrag = on request; aufbewahrungsfrist = the "
                                                                   "retention period passed (absent: on request)")


@event("kim.cases.ClientErased", key="client_id", version=2)
class ClientErased(Event):
    """Right to erasure: the client's key was destroyed; their encrypted fields can never be read again. Version 2
    no longer carries the erasure request's reference: it is recorded in the transaction that destroys the client's
    key, so it cannot be sealed under that key and stay readable, and a file number can still name the person. The
    cases service keeps it in its store (table erasure_requests, `kim audit erasures`), never on the topic. Upcast
    from version 1 without it."""

    client_id: ClientId
    key_id: Id = Field(description="The destroyed key")
    erased_at: Timestamp = Field(description="When the key was destroyed")
    ground: ErasureGround | None = Field(default=None, description="Art. 17(1) GDPR ground (absent on erasures "
                                                                   "recorded before it was asked)")
    reason: ErasureReason | None = Field(default=None, description="antrag = on request; aufbewahrungsfrist = the "
                                                                   "retention period passed (absent: on request)")


@event("kim.cases.ConsentExpired", key="case_id")
class ConsentExpiredV1(Event):
    """The consent's valid_until passed: from the start of the next day (Europe/Berlin) it covers nothing. Recorded by
    the cases service's scheduler; referrals resting on it are revoked and their partners told to purge."""

    case_id: CaseId
    consent_id: Id = Field(description="The consent that expired")
    valid_until: date = Field(description="Its last valid day")
    expired_at: Timestamp = Field(description="When it expired (the start of the day after valid_until)")


FollowUpId = Annotated[Id, Field(description="Stream of the follow-ups of one case or referral: wv-<its id>; kept "
                                             "apart from the case's or referral's own stream, so a reminder never "
                                             "changes their version (ETag)")]


@event("kim.cases.ReviewDue", key="follow_up_id")
class ReviewDueV1(Event):
    """Follow-up (Wiedervorlage): the review planned by the last ReviewHeld (next_review_on) falls due today."""

    follow_up_id: FollowUpId
    case_id: CaseId
    due_on: date = Field(description="The planned review day")


@event("kim.cases.PauseEndDue", key="follow_up_id")
class PauseEndDueV1(Event):
    """Follow-up (Wiedervorlage): the pause was planned to end today (CasePaused.expected_resume_on)."""

    follow_up_id: FollowUpId
    case_id: CaseId
    due_on: date = Field(description="The planned end of the pause")


@event("kim.cases.LegalHoldPlaced", key="client_id")
class LegalHoldPlacedV1(Event):
    """A legal hold: the client's data is kept past its retention period until the hold is lifted. Version 1
    (superseded): the reference travelled in clear."""

    client_id: ClientId
    hold_id: Id = Field(description="Id of the hold; LegalHoldLifted names it")
    reason: LegalHoldReason = Field(description="Why the data must be kept")
    reference: str = Field(min_length=1, max_length=100,
                           description="File number of the procedure or request (no personal data)")
    placed_by: Id = Field(description="Team lead or admin who placed the hold")
    placed_at: Timestamp = Field(description="When")


@event("kim.cases.LegalHoldLifted", key="client_id")
class LegalHoldLifted(Event):
    """A legal hold was lifted; once none is in force, a passed retention period erases the client."""

    client_id: ClientId
    hold_id: Id = Field(description="The hold")
    lifted_by: Id = Field(description="Team lead or admin who lifted it")
    lifted_at: Timestamp = Field(description="When")


# -- Sealed versions: the dates and codes of one person's case in one ciphertext (kim_schemas.sealing) --------------
# In clear stay what routing, authorization and the other services read without a key: ids, the team, its
# organisation, the case manager and the municipality and Baustein of a case (staffing's caseloads and scopes, the
# referrals service's case scope), the consent's scope (recipients, purposes, categories, special categories,
# withdrawal scope: the referrals gate), the residence status code and the Rechtskreis (what a consent shares with a
# partner). Everything else that dates or describes the case is sealed under the client's sealing key, which the
# cases service derives from the client's data key and hands to the reporting service (GET
# /internal/clients/{id}/sealing-key); erasure destroys the data key and with it every way to open them.
NonNegative = Annotated[int, Field(ge=0)]


@event("kim.cases.CaseOpened", key="case_id", version=2)
class CaseOpened(SealedEvent, CaseOpenedV1):
    """Intake (Erstkontakt): a case was opened for a registered client. Version 2 seals the access channel and the
    date of the first contact (`sealed`); municipality, Baustein, team and case manager stay in clear."""

    access_channel: Sealed[AccessChannel]
    opened_on: Sealed[date]


@event("kim.cases.CaseTransferred", key="case_id", version=2)
class CaseTransferred(SealedEvent, CaseTransferredV1):
    """The case moved to another team, municipality or case manager. Version 2 seals the date of the transfer."""

    transferred_on: Sealed[date]


@event("kim.cases.CasePaused", key="case_id", version=2)
class CasePaused(SealedEvent, CasePausedV1):
    """The case is paused (it stays open but is not counted as active). Version 2 seals reason and dates."""

    reason: Sealed[PauseReason]
    paused_on: Sealed[date]
    expected_resume_on: MaybeSealed[date]


@event("kim.cases.CaseResumed", key="case_id", version=2)
class CaseResumed(SealedEvent, CaseResumedV1):
    """Work on a paused case resumed. Version 2 seals the date."""

    resumed_on: Sealed[date]


@event("kim.cases.CaseClosed", key="case_id", version=2)
class CaseClosed(SealedEvent, CaseClosedV1):
    """The case was closed. Version 2 seals the reason, the date, the goal figures and the duration."""

    reason: Sealed[ClosureReason]
    closed_on: Sealed[date]
    goals_agreed: Sealed[NonNegative]
    goals_achieved: Sealed[NonNegative]
    duration_days: Sealed[NonNegative]

    @model_validator(mode="after")
    def _achieved_within_agreed(self) -> CaseClosed:
        if None not in (self.goals_achieved, self.goals_agreed) and self.goals_achieved > self.goals_agreed:
            raise ValueError("goals_achieved cannot exceed goals_agreed")
        return self


@event("kim.cases.ConsentGranted", key="case_id", version=3)
class ConsentGranted(SealedEvent, ConsentGrantedV2):
    """The client consented to sharing: recipients x purposes x data categories (Einwilligung). Version 3 seals the
    form, the day it was given and its last valid day; the scope (recipients, purposes, categories, special
    categories) stays in clear for the referrals gate; the language it was informed in stays encrypted with the
    client's data key (`informed_in`)."""

    form: Sealed[ConsentForm]
    granted_on: Sealed[date]
    valid_until: MaybeSealed[date]


@event("kim.cases.ConsentWithdrawn", key="case_id", version=2)
class ConsentWithdrawn(SealedEvent, ConsentWithdrawnV1):
    """The client withdrew consent, wholly or for one recipient or one data category. Version 2 seals from when it
    takes effect; the scope, recipient and category stay in clear (the referrals service revokes by them)."""

    effective_at: Sealed[Timestamp]


@event("kim.cases.AssessmentCompleted", key="case_id", version=3)
class AssessmentCompleted(SealedEvent, AssessmentCompletedV2):
    """The assessment (Clearing) was completed. Version 3 seals its date; the Rechtskreis stays in clear (what a
    consent shares with a partner), the needs per life domain stay encrypted with the client's data key."""

    assessed_on: Sealed[date]


@event("kim.cases.ResidenceStatusRecorded", key="case_id", version=4)
class ResidenceStatusRecorded(SealedEvent, ResidenceStatusRecordedV3):
    """The client's residence status (Aufenthaltsstatus). Version 4 seals the perspective and the recording date;
    the status code stays in clear (what a consent shares with a partner); since when and until when stay
    encrypted with the client's data key (`dates`)."""

    perspective: Sealed[Perspective]
    recorded_on: Sealed[date]


@event("kim.cases.RechtskreisChanged", key="case_id", version=2)
class RechtskreisChanged(SealedEvent, RechtskreisChangedV1):
    """The legal frame of the client's support changed. Version 2 seals the date; previous and current stay in
    clear (what a consent shares with a partner)."""

    changed_on: Sealed[date]


@event("kim.cases.IntegrationPlanAgreed", key="case_id", version=3)
class IntegrationPlanAgreed(SealedEvent, IntegrationPlanAgreedV2):
    """The client and the case manager agreed an integration plan (Hilfeplan). Version 3 seals the day it was
    agreed; the goals stay encrypted with the client's data key, their ids in clear."""

    agreed_on: Sealed[date]


@event("kim.cases.ReviewHeld", key="case_id", version=2)
class ReviewHeld(SealedEvent, ReviewHeldV1):
    """A review of the plan took place. Version 2 seals its date and the next one; notes stay encrypted with the
    client's data key."""

    held_on: Sealed[date]
    next_review_on: MaybeSealed[date]


@event("kim.cases.GoalAchieved", key="case_id", version=2)
class GoalAchieved(SealedEvent, GoalAchievedV1):
    """A goal of the plan was achieved. Version 2 seals the date."""

    achieved_on: Sealed[date]


@event("kim.cases.GoalDropped", key="case_id", version=2)
class GoalDropped(SealedEvent, GoalDroppedV1):
    """A goal of the plan was dropped. Version 2 seals the reason and the date."""

    reason: Sealed[GoalDropReason]
    dropped_on: Sealed[date]


@event("kim.cases.MilestoneRecorded", key="case_id", version=2)
class MilestoneRecorded(SealedEvent, MilestoneRecordedV1):
    """An integration milestone was reached. Version 2 seals which one, the date and the level."""

    milestone: Sealed[MilestoneKind]
    reached_on: Sealed[date]
    language_level: MaybeSealed[LanguageLevel]

    @model_validator(mode="after")
    def _certificate_has_level(self) -> MilestoneRecorded:
        if self.is_sealed:
            return self
        is_certificate = self.milestone is MilestoneKind.LANGUAGE_CERTIFICATE
        if is_certificate != (self.language_level is not None):
            raise ValueError("language_level is required for sprachzertifikat and only for it")
        return self


@event("kim.cases.ConsentExpired", key="case_id", version=2)
class ConsentExpired(SealedEvent, ConsentExpiredV1):
    """The consent's valid_until passed (recorded by the cases service's scheduler). Version 2 seals its last valid
    day and the moment it expired (they repeat the consent's sealed valid_until); the referrals service revokes by the
    consent id and takes the record time."""

    valid_until: Sealed[date]
    expired_at: Sealed[Timestamp]


@event("kim.cases.ReviewDue", key="follow_up_id", version=2)
class ReviewDue(SealedEvent, ReviewDueV1):
    """Follow-up (Wiedervorlage): the planned review falls due today. Version 2 seals the day (the review's sealed
    next_review_on)."""

    due_on: Sealed[date]


@event("kim.cases.PauseEndDue", key="follow_up_id", version=2)
class PauseEndDue(SealedEvent, PauseEndDueV1):
    """Follow-up (Wiedervorlage): the pause was planned to end today. Version 2 seals the day (the pause's sealed
    expected_resume_on)."""

    due_on: Sealed[date]


@event("kim.cases.LegalHoldPlaced", key="client_id", version=2)
class LegalHoldPlaced(SealedEvent, LegalHoldPlacedV1):
    """A legal hold: the client's data is kept past its retention period until the hold is lifted. Version 2 seals
    the reference (a file number: letters, digits and / . _ -, no spaces) under the client's sealing key; a hold is
    only placed on a client not erased, and erasure destroys the key and the reference with it. The reason, who
    placed it and when stay in clear (the retention scheduler and the audit). Upcast from version 1 with the
    reference reduced to a file number."""

    reference: Sealed[FileNumber] = Field(default=None, description="File number of the procedure or request, e.g. "
                                                      "AZ-2026/0815 (sealed: inside `sealed` on the wire)")


SEALED_TYPES = tuple(m for m in list(globals().values())
                     if isinstance(m, type) and issubclass(m, SealedEvent) and m is not SealedEvent)
