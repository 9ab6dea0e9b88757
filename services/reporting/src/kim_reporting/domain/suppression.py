"""Cells and the small-number rule: a figure resting on fewer than MIN_PERSONS persons is not shown."""

from __future__ import annotations

from dataclasses import dataclass, field

from .catalogue import BY_NAME

MIN_PERSONS = 5
ALL = None  # municipality / baustein of a cell that covers all of them


@dataclass(frozen=True)
class Cell:
    indicator: str
    period: str
    municipality: str | None
    baustein: str | None
    dimensions: dict[str, str] = field(default_factory=dict)
    value: float | int | None = None
    persons: int | None = None  # None: the figure does not count persons (staffing)
    withheld: bool = False  # hidden to protect a small cell (complementary suppression, domain/protection.py)

    @property
    def small(self) -> bool:
        return self.persons is not None and self.persons < MIN_PERSONS

    @property
    def suppressed(self) -> bool:
        return self.small or self.withheld

    def key(self) -> tuple:
        return (self.indicator, self.period, self.municipality or "", self.baustein or "",
                tuple(sorted(self.dimensions.items())))

    def public(self) -> dict:
        """What leaves the service: the value only when not suppressed, never the person count."""
        return {
            "indicator": self.indicator,
            "period": self.period,
            "municipality": self.municipality,
            "baustein": self.baustein,
            "dimensions": dict(self.dimensions),
            "value": None if self.suppressed else self.value,
            "suppressed": self.suppressed,
        }


def rounded(indicator: str, value) -> float | int | None:
    if value is None:
        return None
    decimals = BY_NAME[indicator].decimals
    return int(round(value)) if decimals == 0 else round(float(value), decimals)
