"""Funded vs filled VZÄ per municipality and Baustein, time-weighted over a period.

Each day of the period counts equally: the average VZÄ is the integral of VZÄ over the days divided by the number
of days, so a 1.0 position filled for half of the period counts as 0.5 filled.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from .timeline import Load, Span, day_weighted

PLACES = Decimal("0.001")


@dataclass(frozen=True)
class Cell:
    municipality: str
    baustein: str


@dataclass(frozen=True)
class Coverage:
    municipality: str
    baustein: str
    days: int
    funded_vza: Decimal  # positions in place, averaged over the days
    grant_funded_vza: Decimal  # the part the KIM grant pays
    filled_vza: Decimal
    vacant_vza: Decimal
    funded_vza_days: Decimal
    filled_vza_days: Decimal


def coverage(positions: dict[Cell, list[Load]], grant_funded: dict[Cell, list[Load]],
             filled: dict[Cell, list[Load]], window: Span) -> list[Coverage]:
    days = window.days()
    cells = sorted(set(positions) | set(filled), key=lambda c: (c.municipality, c.baustein))
    out = []
    for cell in cells:
        funded_days = day_weighted(positions.get(cell, []), window)
        grant_days = day_weighted(grant_funded.get(cell, []), window)
        filled_days = day_weighted(filled.get(cell, []), window)
        funded, filled_avg = funded_days / days, filled_days / days
        out.append(Coverage(
            municipality=cell.municipality, baustein=cell.baustein, days=days,
            funded_vza=funded.quantize(PLACES), grant_funded_vza=(grant_days / days).quantize(PLACES),
            filled_vza=filled_avg.quantize(PLACES), vacant_vza=max(funded - filled_avg, Decimal(0)).quantize(PLACES),
            funded_vza_days=funded_days, filled_vza_days=filled_days,
        ))
    return out


def group(rows, key) -> dict[Cell, list[Load]]:
    """Loads grouped by cell: `key(row)` returns (cell, load) or None to skip the row."""
    out: dict[Cell, list[Load]] = defaultdict(list)
    for row in rows:
        item = key(row)
        if item is not None:
            out[item[0]].append(item[1])
    return out
