"""Day arithmetic for VZÄ over time: half-open spans of days, peaks and day-weighted sums.

A span is [start, end): `end` is the first day no longer covered (None: open-ended). Inclusive "last day" dates
from the events become `last + 1 day` here, so adjacent spans never double count a day.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class Span:
    start: date
    end: date | None = None  # exclusive; None = open-ended

    @classmethod
    def inclusive(cls, first: date, last: date | None) -> Span:
        return cls(first, last + ONE_DAY if last is not None else None)

    def contains(self, day: date) -> bool:
        return self.start <= day and (self.end is None or day < self.end)

    def clip(self, window: Span) -> Span | None:
        """The part of this span inside `window`, or None when they do not meet."""
        start = max(self.start, window.start)
        ends = [e for e in (self.end, window.end) if e is not None]
        end = min(ends) if ends else None
        if end is not None and end <= start:
            return None
        return Span(start, end)

    def days(self) -> int:
        if self.end is None:
            raise ValueError("an open-ended span has no day count")
        return (self.end - self.start).days


Load = tuple[Span, Decimal]


def peak(loads: Iterable[Load], window: Span) -> Decimal:
    """The highest sum of values on any single day of `window`."""
    deltas: dict[date, Decimal] = {}
    for span, value in loads:
        part = span.clip(window)
        if part is None:
            continue
        deltas[part.start] = deltas.get(part.start, Decimal(0)) + value
        if part.end is not None:
            deltas[part.end] = deltas.get(part.end, Decimal(0)) - value
    best = running = Decimal(0)
    for day in sorted(deltas):
        running += deltas[day]
        best = max(best, running)
    return best


def day_weighted(loads: Iterable[Load], window: Span) -> Decimal:
    """Sum of value x days over `window` (VZÄ-days). `window` must be closed."""
    total = Decimal(0)
    for span, value in loads:
        part = span.clip(window)
        if part is not None:
            total += value * part.days()
    return total
