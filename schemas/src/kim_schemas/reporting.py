"""Events of the reporting service (topic kim.reporting): periodic reports and their four-eyes approval.

Keyed by report_id. Reports hold aggregates only; a cell of fewer than 5 persons is suppressed."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kim_schemas.base import Event, event
from kim_schemas.codes import Baustein
from kim_schemas.types import Ags, Figure, Id, Timestamp


class ReportKind(StrEnum):
    """Kind of report: quartal = quarterly, halbjahr = half-year, jahr = annual (Sachbericht to the Land)."""

    QUARTERLY = "quartal"
    HALF_YEAR = "halbjahr"
    ANNUAL = "jahr"


class ReportCell(BaseModel):
    """One figure of a report: an indicator for a combination of dimensions."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    indicator: str = Field(min_length=1, max_length=100, description="Indicator name, e.g. active_cases")
    dimensions: dict[str, str] = Field(default_factory=dict, description="e.g. {\"access_channel\": \"jobcenter\"}")
    value: Figure | None = Field(default=None, description="The figure; empty when suppressed")
    suppressed: bool = Field(default=False, description="True when fewer than 5 persons are behind the figure")

    @model_validator(mode="after")
    def _suppressed_has_no_value(self) -> ReportCell:
        if self.suppressed == (self.value is not None):
            raise ValueError("a cell has a value exactly when it is not suppressed")
        return self


@event("kim.reporting.ReportGenerated", key="report_id")
class ReportGenerated(Event):
    """A periodic report was generated; it needs a second person's approval."""

    report_id: Id = Field(description="Id of the report (stream id)")
    kind: ReportKind = Field(description="Kind of report")
    period_from: date = Field(description="First day of the period")
    period_to: date = Field(description="Last day of the period")
    municipality: Ags | None = Field(default=None, description="Municipality; empty = the whole county")
    baustein: Baustein | None = Field(default=None, description="Building block; empty = all")
    cells: list[ReportCell] = Field(description="The figures")
    content_hash: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the report content")
    generated_by: Id = Field(description="Who generated it")
    generated_at: Timestamp = Field(description="When")


@event("kim.reporting.ReportApproved", key="report_id")
class ReportApproved(Event):
    """A second person approved the report (four-eyes principle)."""

    report_id: Id = Field(description="The report")
    content_hash: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the approved content")
    approved_by: Id = Field(description="Who approved it; never the person who generated it")
    approved_at: Timestamp = Field(description="When")
