"""Periods: labels, boundaries, and ranges that tile time without gaps or overlaps."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kim_reporting.domain.periods import PeriodKind, parse_period, period_of, periods_between


@pytest.mark.parametrize(("label", "start", "end", "kind"), [
    ("2024-02", date(2024, 2, 1), date(2024, 2, 29), PeriodKind.MONTH),
    ("2025-Q4", date(2025, 10, 1), date(2025, 12, 31), PeriodKind.QUARTER),
    ("2025-H1", date(2025, 1, 1), date(2025, 6, 30), PeriodKind.HALF_YEAR),
    ("2025", date(2025, 1, 1), date(2025, 12, 31), PeriodKind.YEAR),
])
def test_labels_name_their_days(label, start, end, kind):
    period = parse_period(label)
    assert (period.start, period.end, period.kind, period.label) == (start, end, kind, label)


@pytest.mark.parametrize("label", ["2025-13", "2025-Q5", "25", "2025-H3", "Q1-2025"])
def test_bad_labels_say_what_is_expected(label):
    with pytest.raises(ValueError, match="2025-Q2|month"):
        parse_period(label)


@given(st.sampled_from(list(PeriodKind)), st.dates(date(2000, 1, 1), date(2040, 1, 1)),
       st.integers(0, 900))
def test_a_range_is_tiled_by_consecutive_periods(kind, first, length):
    last = first + timedelta(days=length)
    periods = periods_between(kind, first, last)
    assert periods[0].start <= first <= periods[0].end and periods[-1].start <= last <= periods[-1].end
    for before, after in zip(periods, periods[1:]):
        assert after.start == before.end + timedelta(days=1)
    assert all(parse_period(p.label) == p == period_of(kind, p.start) for p in periods)
    assert sum(p.days for p in periods) == (periods[-1].end - periods[0].start).days + 1


def test_a_range_that_ends_before_it_starts_is_refused():
    with pytest.raises(ValueError, match="before it starts"):
        periods_between(PeriodKind.MONTH, date(2025, 2, 1), date(2025, 1, 1))
