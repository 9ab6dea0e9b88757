"""Reporting periods: months, quarters, half-years and years, named by labels such as 2025-03, 2025-Q1, 2025-H2, 2025."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum


class PeriodKind(StrEnum):
    MONTH = "month"
    QUARTER = "quarter"
    HALF_YEAR = "half_year"
    YEAR = "year"


_MONTHS = {PeriodKind.MONTH: 1, PeriodKind.QUARTER: 3, PeriodKind.HALF_YEAR: 6, PeriodKind.YEAR: 12}
_LABEL = re.compile(r"^(?P<y>\d{4})(?:-(?:(?P<m>\d{2})|Q(?P<q>[1-4])|H(?P<h>[12])))?$")


@dataclass(frozen=True, order=True)
class Period:
    start: date
    end: date  # last day, inclusive
    kind: PeriodKind
    label: str

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def _first_month(kind: PeriodKind, month: int) -> int:
    step = _MONTHS[kind]
    return (month - 1) // step * step + 1


def period_of(kind: PeriodKind, day: date) -> Period:
    """The period of this kind that contains `day`."""
    first = _first_month(kind, day.month)
    start = date(day.year, first, 1)
    nxt = first + _MONTHS[kind]
    end = (date(day.year + 1, 1, 1) if nxt > 12 else date(day.year, nxt, 1)) - timedelta(days=1)
    index = (first - 1) // _MONTHS[kind] + 1
    label = {
        PeriodKind.MONTH: f"{day.year}-{first:02d}",
        PeriodKind.QUARTER: f"{day.year}-Q{index}",
        PeriodKind.HALF_YEAR: f"{day.year}-H{index}",
        PeriodKind.YEAR: f"{day.year}",
    }[kind]
    return Period(start, end, kind, label)


def periods_between(kind: PeriodKind, first_day: date, last_day: date) -> list[Period]:
    """Every period of this kind that overlaps [first_day, last_day], in order."""
    if last_day < first_day:
        raise ValueError(f"the range ends ({last_day}) before it starts ({first_day})")
    out: list[Period] = []
    current = period_of(kind, first_day)
    while current.start <= last_day:
        out.append(current)
        current = period_of(kind, current.end + timedelta(days=1))
    return out


def parse_period(label: str) -> Period:
    """'2025-03' (month), '2025-Q1' (quarter), '2025-H2' (half-year) or '2025' (year)."""
    m = _LABEL.match(label.strip())
    if not m:
        raise ValueError(f"period {label!r} is not one of 2025, 2025-H1, 2025-Q2 or 2025-03")
    year = int(m["y"])
    if m["m"]:
        month = int(m["m"])
        if not 1 <= month <= 12:
            raise ValueError(f"period {label!r}: month must be 01..12")
        return period_of(PeriodKind.MONTH, date(year, month, 1))
    if m["q"]:
        return period_of(PeriodKind.QUARTER, date(year, (int(m["q"]) - 1) * 3 + 1, 1))
    if m["h"]:
        return period_of(PeriodKind.HALF_YEAR, date(year, (int(m["h"]) - 1) * 6 + 1, 1))
    return period_of(PeriodKind.YEAR, date(year, 1, 1))


def children(label: str) -> list[str]:
    """The periods one level down that make up this one: a year's halves, a half's quarters, a quarter's months."""
    p = parse_period(label)
    kind = {PeriodKind.YEAR: PeriodKind.HALF_YEAR, PeriodKind.HALF_YEAR: PeriodKind.QUARTER,
            PeriodKind.QUARTER: PeriodKind.MONTH}.get(p.kind)
    return [] if kind is None else [q.label for q in periods_between(kind, p.start, p.end)]


def calendar_year(label: str) -> str:
    return label[:4]


def periods_of_year(year: str) -> list[Period]:
    """Every month, quarter, half-year and the year itself: what any request about this year can publish."""
    first, last = date(int(year), 1, 1), date(int(year), 12, 31)
    return [p for kind in PeriodKind for p in periods_between(kind, first, last)]
