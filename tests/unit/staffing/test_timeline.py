"""Day arithmetic: peaks and day-weighted sums agree with counting day by day."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from kim_staffing.domain.timeline import Span, day_weighted, peak

D0 = date(2025, 1, 1)
WINDOW = Span(D0, D0 + timedelta(days=60))


def spans():
    return st.builds(
        lambda a, n, open_: Span(D0 + timedelta(days=a), None if open_ else D0 + timedelta(days=a + n)),
        st.integers(-10, 70), st.integers(1, 40), st.booleans(),
    )


loads = st.lists(st.tuples(spans(), st.sampled_from([Decimal("0.25"), Decimal("0.5"), Decimal("1.0")])), max_size=8)


def by_day(items, window):
    day = window.start
    while day < window.end:
        yield sum((v for s, v in items if s.contains(day)), Decimal(0))
        day += timedelta(days=1)


@given(loads)
def test_peak_is_the_busiest_day(items):
    assert peak(items, WINDOW) == max(by_day(items, WINDOW), default=Decimal(0))


@given(loads)
def test_day_weighted_is_the_sum_over_days(items):
    assert day_weighted(items, WINDOW) == sum(by_day(items, WINDOW), Decimal(0))


def test_inclusive_last_day_counts_and_clip():
    span = Span.inclusive(date(2025, 1, 1), date(2025, 12, 31))
    assert span.days() == 365 and span.contains(date(2025, 12, 31)) and not span.contains(date(2026, 1, 1))
    assert Span(date(2026, 1, 1)).clip(span) is None
    assert Span(date(2024, 6, 1)).clip(span) == span
