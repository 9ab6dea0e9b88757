"""Cells of one period as the reporting query gives them, built from individual cases (no database): every
grouping set (totals, by municipality, by Baustein, by both), each per dimension value, items and distinct persons.
Families of indicators come from the same cases, so their breakdowns add up to the same totals, as in the service."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from fractions import Fraction

from kim_reporting.application.indicators import BREAKDOWNS, Scope
from kim_reporting.domain.catalogue import BY_NAME
from kim_reporting.domain.lattice import STOCKS
from kim_reporting.domain.periods import periods_of_year
from kim_reporting.domain.suppression import Cell

PERIOD = "2025-Q1"
YEAR = "2026"


@dataclass(frozen=True)
class Case:
    municipality: str
    baustein: str
    dims: tuple[str, ...]  # one value per indicator of the family, in order
    person: str
    x: int = 0  # for ratios: numerator
    y: int = 1  # for ratios: denominator
    month: int = 1  # opened in this month of YEAR (year_lattice)
    until: int = 13  # closed in this month (13: still open at the year's end)


def year_lattice(indicators: tuple[str, ...], cases: list[Case], year: str = YEAR) -> list[Cell]:
    """The cells of every month, quarter, half-year and the year: flows count the cases opened in the period,
    stocks (active cases) the cases open at its end."""
    out = []
    for period in periods_of_year(year):
        first, last = period.start.month, period.end.month
        if indicators[0] in STOCKS:
            members = [c for c in cases if c.month <= last < c.until]
        else:
            members = [c for c in cases if first <= c.month <= last]
        out += lattice(indicators, members, period.label)
    return out


def lattice(indicators: tuple[str, ...], cases: list[Case], period: str = PERIOD) -> list[Cell]:
    groups: dict[tuple, list[Case]] = defaultdict(list)
    for case in cases:
        for i, name in enumerate(indicators):
            for m in (case.municipality, None):
                for b in (case.baustein, None):
                    groups[(name, m, b, case.dims[i])].append(case)
    cells = []
    for (name, m, b, dim), members in groups.items():
        indicator = BY_NAME[name]
        if indicator.aggregate.value == "ratio":
            value = float(Fraction(sum(c.x for c in members), sum(c.y for c in members)))
        else:
            value = len(members)
        cells.append(Cell(name, period, m, b, {indicator.dimension: dim} if indicator.dimension else {}, value,
                          len({c.person for c in members})))
    return cells


def every_response(cells: list[Cell]) -> list[list[dict]]:
    """What each request can return: every breakdown, unfiltered and filtered to each municipality / Baustein."""
    municipalities = sorted({c.municipality for c in cells if c.municipality})
    bausteine = sorted({c.baustein for c in cells if c.baustein})
    scopes = [Scope(by=frozenset(by)) for by in ((), ("municipality",), ("baustein",), BREAKDOWNS)]
    scopes += [Scope(municipality=m, by=frozenset(by)) for m in municipalities for by in ((), ("baustein",))]
    scopes += [Scope(baustein=b, by=frozenset(by)) for b in bausteine for by in ((), ("municipality",))]
    scopes += [Scope(every_breakdown=True)]
    return [[c.public() for c in cells if s.wants(c.municipality, c.baustein)] for s in scopes]


def merged(responses: list[list[dict]]) -> list[dict]:
    """The union of the responses; a cell shown twice must be shown the same way."""
    seen: dict[tuple, dict] = {}
    for response in responses:
        for cell in response:
            key = (cell["indicator"], cell["period"], cell["municipality"], cell["baustein"],
                   tuple(cell["dimensions"].items()))
            assert seen.setdefault(key, cell) == cell, f"{key} differs between responses"
    return list(seen.values())


def subtraction_attack(public: list[dict]) -> dict[tuple, int]:
    """The finding: by=municipality minus the visible cells of by=municipality,baustein (and the same along
    Bausteine and the grand total). Returns each hidden cell recovered this way with its value."""
    cells = {(c["municipality"], c["baustein"]): c for c in public}
    recovered = {}
    for total_key, parts in _lines(cells):
        total = cells.get(total_key)
        hidden = [p for p in parts if cells[p]["suppressed"]]
        if total and not total["suppressed"] and len(hidden) == 1:
            recovered[hidden[0]] = total["value"] - sum(cells[p]["value"] for p in parts if p != hidden[0])
    return recovered


def _lines(cells):
    municipalities = {m for m, _ in cells if m}
    bausteine = {b for _, b in cells if b}
    for m in [None, *municipalities]:
        yield (m, None), [(m, b) for b in bausteine if (m, b) in cells]
    for b in [None, *bausteine]:
        yield (None, b), [(m, b) for m in municipalities if (m, b) in cells]
