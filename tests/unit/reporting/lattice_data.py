"""Cells of one period as the reporting query gives them, built from individual cases (no database): every
grouping set (totals, by municipality, by Baustein, by both), each per dimension value, items and distinct persons.
Families of indicators come from the same cases, so their breakdowns add up to the same totals, as in the service."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from fractions import Fraction

from kim_reporting.application.indicators import BREAKDOWNS, Scope
from kim_reporting.domain.catalogue import BY_NAME
from kim_reporting.domain.suppression import Cell

PERIOD = "2025-Q1"


@dataclass(frozen=True)
class Case:
    municipality: str
    baustein: str
    dims: tuple[str, ...]  # one value per indicator of the family, in order
    person: str
    x: int = 0  # for ratios: numerator
    y: int = 1  # for ratios: denominator


def lattice(indicators: tuple[str, ...], cases: list[Case]) -> list[Cell]:
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
        cells.append(Cell(name, PERIOD, m, b, {indicator.dimension: dim} if indicator.dimension else {}, value,
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
