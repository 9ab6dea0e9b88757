"""The indicators the reporting service serves (domain.md, "Indicators for reporting"), with their definitions.

Shared rules: a case counts for the municipality it belongs to at the period's end (intakes and the residence status
at intake: the municipality that opened it). A case is active on a day when its latest opening, pause, resumption or
closure on or before that day is an opening or a resumption. Persons are distinct clients; a cell whose figure rests
on fewer than MIN_PERSONS persons is suppressed. Staffing figures count posts, not persons, and are never suppressed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Aggregate(StrEnum):
    COUNT = "count"  # distinct items
    RATIO = "ratio"  # sum(x) / sum(y)
    MEDIAN = "median"  # median of x
    SUM = "sum"  # sum of x (VZÄ)


@dataclass(frozen=True)
class Indicator:
    name: str
    title: str
    aggregate: Aggregate
    dimension: str | None = None  # the breakdown within a cell, e.g. access_channel
    person_based: bool = True  # suppressed below MIN_PERSONS
    by_municipality: bool = True  # grants are awarded per Baustein only
    decimals: int = 0


INDICATORS: tuple[Indicator, ...] = (
    Indicator("active_cases", "Active cases at period end", Aggregate.COUNT),
    Indicator("intakes", "Intakes by access channel", Aggregate.COUNT, "access_channel"),
    Indicator("closures", "Closures by reason", Aggregate.COUNT, "reason"),
    Indicator("residence_status_at_intake", "Residence status at intake (cases opened)", Aggregate.COUNT, "status"),
    Indicator("residence_status_at_closure", "Residence status at closure (cases closed)", Aggregate.COUNT, "status"),
    Indicator("status_improvements", "Residence status improvements", Aggregate.COUNT, "transition"),
    Indicator("naturalisations", "Naturalisations", Aggregate.COUNT),
    Indicator("rechtskreis_mix", "Rechtskreis of active cases at period end", Aggregate.COUNT, "rechtskreis"),
    Indicator("rechtskreis_changes", "Rechtskreis changes", Aggregate.COUNT, "change"),
    Indicator("course_starts", "German course starts", Aggregate.COUNT),
    Indicator("b1_plus_certificates", "Language certificates B1 or higher", Aggregate.COUNT),
    Indicator("training_starts", "Vocational training starts", Aggregate.COUNT),
    Indicator("job_starts", "Jobs subject to social insurance started", Aggregate.COUNT),
    Indicator("goal_rate", "Goals achieved / agreed over closed cases", Aggregate.RATIO, decimals=4),
    Indicator("median_case_duration_days", "Median duration of closed cases (days)", Aggregate.MEDIAN, decimals=1),
    Indicator("referrals", "Referrals by partner", Aggregate.COUNT, "partner"),
    Indicator("referral_acceptance_rate", "Accepted / decided referrals by partner", Aggregate.RATIO, "partner",
              decimals=4),
    Indicator("median_days_to_appointment", "Median days from referral to appointment", Aggregate.MEDIAN, "partner",
              decimals=1),
    Indicator("consent_coverage", "Active cases with valid consent for every partner involved", Aggregate.RATIO,
              decimals=4),
    Indicator("vza_granted", "VZÄ funded by grants (time-weighted)", Aggregate.SUM, person_based=False,
              by_municipality=False, decimals=3),
    Indicator("vza_positions", "VZÄ of established positions (time-weighted)", Aggregate.SUM, person_based=False,
              decimals=3),
    Indicator("vza_filled", "VZÄ filled (time-weighted)", Aggregate.SUM, person_based=False, decimals=3),
    Indicator("vza_filled_at_end", "VZÄ filled at period end", Aggregate.SUM, person_based=False, decimals=3),
    Indicator("vza_vacant_at_end", "VZÄ vacant at period end", Aggregate.SUM, person_based=False, decimals=3),
    Indicator("active_cases_per_filled_vza", "Active cases per filled VZÄ at period end", Aggregate.RATIO,
              decimals=2),
)

BY_NAME = {i.name: i for i in INDICATORS}
