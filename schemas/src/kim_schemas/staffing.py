"""Events of the staffing service (topic kim.staffing): grants, positions, staff and caseloads.

Grant events are keyed by grant_id, position events by position_id, assignments by case_id and caseload
alerts by staff_member_id."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import Field, model_validator

from kim_schemas.base import Event, event
from kim_schemas.codes import Baustein
from kim_schemas.types import Ags, Id, Money, OrganisationId, Timestamp, Vza


class FundingSource(StrEnum):
    """Who pays for a position: kim_land = the Land NRW's KIM grant, kommune = the municipality's own budget,
    traeger = the welfare organisation's own funds, anderes_programm = another programme."""

    KIM_GRANT = "kim_land"
    MUNICIPALITY = "kommune"
    PROVIDER = "traeger"
    OTHER_PROGRAMME = "anderes_programm"


class VacancyReason(StrEnum):
    """Why a position became vacant: kuendigung = resignation or dismissal, befristung = fixed term ended,
    elternzeit = parental leave, langzeiterkrankung = long-term illness, wechsel = moved to another position,
    ruhestand = retirement, sonstiges = other."""

    RESIGNATION = "kuendigung"
    FIXED_TERM_ENDED = "befristung"
    PARENTAL_LEAVE = "elternzeit"
    LONG_TERM_ILLNESS = "langzeiterkrankung"
    INTERNAL_MOVE = "wechsel"
    RETIREMENT = "ruhestand"
    OTHER = "sonstiges"


@event("kim.staffing.GrantAwarded", key="grant_id")
class GrantAwarded(Event):
    """The Land awarded a KIM grant (Zuwendungsbescheid) for a period: a number of VZÄ at a rate per VZÄ."""

    grant_id: Id = Field(description="Id of the grant (stream id)")
    baustein: Baustein = Field(description="Building block the grant funds")
    period_from: date = Field(description="First day of the funded period")
    period_to: date = Field(description="Last day of the funded period")
    vza: Vza = Field(description="Funded full-time equivalents")
    rate_per_vza: Money = Field(description="Euro per VZÄ and year")
    reference: str | None = Field(default=None, max_length=100, description="File number of the grant notice")

    @model_validator(mode="after")
    def _period_in_order(self) -> GrantAwarded:
        if self.period_to < self.period_from:
            raise ValueError("period_to is before period_from")
        return self


@event("kim.staffing.PositionEstablished", key="position_id")
class PositionEstablished(Event):
    """A position (Stelle) was set up at a host organisation."""

    position_id: Id = Field(description="Id of the position (stream id)")
    baustein: Baustein = Field(description="Building block of the position")
    vza: Vza = Field(description="Size of the position in VZÄ, e.g. 1.0 or 0.5")
    host_organisation_id: OrganisationId = Field(description="Employer: the county, a city or a welfare organisation")
    municipality: Ags = Field(description="Municipality the position serves (AGS)")
    funding_source: FundingSource = Field(description="Who pays for it")
    grant_id: Id | None = Field(default=None, description="The grant funding it, if kim_land")
    valid_from: date = Field(description="First day of the position")
    valid_to: date | None = Field(default=None, description="Last day, if the position is fixed-term")


@event("kim.staffing.PositionTransferred", key="position_id")
class PositionTransferred(Event):
    """A position from an expiring programme was taken over into KIM."""

    position_id: Id = Field(description="The position")
    from_programme: str = Field(min_length=1, max_length=100, description="Name of the programme it came from")
    grant_id: Id | None = Field(default=None, description="The KIM grant funding it from now on")
    transferred_on: date = Field(description="Date of the takeover")


@event("kim.staffing.PositionFilled", key="position_id")
class PositionFilled(Event):
    """A staff member took (a share of) a position."""

    position_id: Id = Field(description="The position")
    staff_member_id: Id = Field(description="Pseudonymous staff id")
    vza_share: Vza = Field(description="Share of the position the staff member fills, in VZÄ")
    filled_on: date = Field(description="First working day")


@event("kim.staffing.PositionVacated", key="position_id")
class PositionVacated(Event):
    """A staff member left (a share of) a position."""

    position_id: Id = Field(description="The position")
    staff_member_id: Id = Field(description="Pseudonymous staff id")
    vza_share: Vza = Field(description="Share of the position now vacant, in VZÄ")
    vacated_on: date = Field(description="First day the share is vacant")
    reason: VacancyReason = Field(description="Why")


@event("kim.staffing.CaseManagerAssigned", key="case_id")
class CaseManagerAssigned(Event):
    """A staff member was made responsible for a case."""

    case_id: Id = Field(description="The case (stream id)")
    staff_member_id: Id = Field(description="The case manager from now on")
    previous_staff_member_id: Id | None = Field(default=None, description="The case manager before, if any")
    assigned_on: date = Field(description="Date of the assignment")


@event("kim.staffing.CaseloadLimitExceeded", key="staff_member_id")
class CaseloadLimitExceeded(Event):
    """A case manager's active cases went above the limit for their share of VZÄ (derived from case events)."""

    staff_member_id: Id = Field(description="The case manager (stream id)")
    active_cases: int = Field(ge=0, description="Active cases now")
    limit: int = Field(ge=0, description="Limit for their VZÄ share")
    vza_share: Vza = Field(description="Their filled VZÄ share")
    detected_at: Timestamp = Field(description="When the limit was crossed")


@event("kim.staffing.CaseloadBackWithinLimit", key="staff_member_id")
class CaseloadBackWithinLimit(Event):
    """A case manager's active cases are back at or below the limit."""

    staff_member_id: Id = Field(description="The case manager (stream id)")
    active_cases: int = Field(ge=0, description="Active cases now")
    limit: int = Field(ge=0, description="Limit for their VZÄ share")
    vza_share: Vza = Field(description="Their filled VZÄ share")
    detected_at: Timestamp = Field(description="When it went back within the limit")
