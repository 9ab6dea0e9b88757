"""What a team lead or admin can ask the staffing service to do (validated before any rule is checked)."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from kim_runtime.types import Day, Id, Line, Municipality, OrganisationId
from kim_schemas.codes import Baustein
from kim_schemas.staffing import FundingSource, VacancyReason
from kim_schemas.types import Money, Vza


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _not_before(field: str):
    def check(value: date | None, info: ValidationInfo) -> date | None:
        start = info.data.get(field)
        if value is not None and start is not None and value < start:
            raise ValueError(f"must not be before {field} ({start})")
        return value

    return check


class AwardGrant(Command):
    grant_id: Id | None = Field(default=None, description="Your id for the grant; a new UUID when left out")
    baustein: Baustein
    period_from: Day
    period_to: Day
    vza: Vza = Field(gt=0, description="Funded VZÄ, e.g. \"19.5\"")
    rate_per_vza: Money = Field(description="Euro per VZÄ and year, e.g. \"56000.00\"")
    reference: Line(100) | None = Field(default=None, description="File number of the grant notice")

    _period = field_validator("period_to")(_not_before("period_from"))


class EstablishPosition(Command):
    position_id: Id | None = Field(default=None, description="Your id for the position; a new UUID when left out")
    baustein: Baustein
    vza: Vza = Field(gt=0)
    host_organisation_id: OrganisationId
    municipality: Municipality
    funding_source: FundingSource
    grant_id: Id | None = Field(default=None, description="Required when funding_source is kim_land")
    valid_from: Day
    valid_to: Day | None = None

    _validity = field_validator("valid_to")(_not_before("valid_from"))


class TransferPosition(Command):
    from_programme: Line(100, min_length=1) = Field(description="The expiring programme")
    grant_id: Id | None = Field(default=None, description="The KIM grant that funds it from transferred_on")
    transferred_on: Day


class FillPosition(Command):
    staff_member_id: Id = Field(description="Pseudonymous staff id")
    vza_share: Vza = Field(gt=0)
    filled_on: Day


class VacatePosition(Command):
    staff_member_id: Id
    vza_share: Vza | None = Field(default=None, gt=0, description="Share given up; all of it when left out")
    vacated_on: Day = Field(description="First day the share is vacant")
    reason: VacancyReason


class AssignCaseManager(Command):
    staff_member_id: Id
    assigned_on: Day = Field(default_factory=date.today)
