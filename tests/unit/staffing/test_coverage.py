"""Funded vs filled, time-weighted: each day weighs the same."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from kim_staffing.domain.coverage import Cell, coverage
from kim_staffing.domain.timeline import Span

YEAR = Span.inclusive(date(2025, 1, 1), date(2025, 12, 31))
LUENEN = Cell("05978024", "2")


def test_half_a_year_filled_counts_half():
    rows = coverage({LUENEN: [(Span(date(2025, 1, 1)), Decimal("2.0"))]},
                    {LUENEN: [(Span(date(2025, 7, 1)), Decimal("1.0"))]},
                    {LUENEN: [(Span(date(2025, 1, 1), date(2025, 7, 1)), Decimal("1.0"))]}, YEAR)
    (row,) = rows
    assert row.days == 365 and row.funded_vza == Decimal("2.000")
    assert row.grant_funded_vza == Decimal("0.504")  # 184 of 365 days
    assert row.filled_vza == Decimal("0.496") and row.vacant_vza == Decimal("1.504")
    assert row.filled_vza_days == Decimal("181.0")


def test_cells_are_kept_apart_and_sorted():
    unna = Cell("05978036", "3")
    rows = coverage({unna: [(YEAR, Decimal(1))], LUENEN: [(YEAR, Decimal(1))]}, {}, {}, YEAR)
    assert [(r.municipality, r.baustein) for r in rows] == [("05978024", "2"), ("05978036", "3")]
    assert all(r.filled_vza == 0 and r.vacant_vza == Decimal("1.000") for r in rows)
