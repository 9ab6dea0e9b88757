"""Indicators for a range of periods, filtered and broken down as asked, with small cells suppressed.

Every cell of every breakdown of every month, quarter, half-year and year of the calendar years asked about is
computed (one query with grouping sets), the suppression pattern is decided over each calendar year
(domain/protection.py), and only then are the asked periods and scope cut out: every response, CSV and report
shows the same hidden cells, whichever period kind is asked."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

import asyncpg

from kim_reporting.adapters.indicator_sql import FACTS, query
from kim_reporting.adapters.reading import snapshot
from kim_reporting.domain.catalogue import BY_NAME, INDICATORS, Aggregate
from kim_reporting.domain.periods import Period, calendar_year, periods_of_year
from kim_reporting.domain.protection import needed as pattern_needs
from kim_reporting.domain.protection import protect
from kim_reporting.domain.suppression import Cell, rounded

BREAKDOWNS = ("municipality", "baustein")


@dataclass(frozen=True)
class Scope:
    """Which cells to return: one municipality / Baustein or all, and which of the two to break down by."""

    municipality: str | None = None
    baustein: str | None = None
    by: frozenset[str] = field(default_factory=frozenset)
    every_breakdown: bool = False  # reports: totals and every breakdown within the filter

    def wants(self, municipality: str | None, baustein: str | None) -> bool:
        if self.every_breakdown:
            return self.municipality in (None, municipality) and self.baustein in (None, baustein)
        return _fits(municipality, self.municipality, "municipality" in self.by) and _fits(
            baustein, self.baustein, "baustein" in self.by)


def _fits(value: str | None, wanted: str | None, broken_down: bool) -> bool:
    if wanted is not None:
        return value == wanted
    return value is not None if broken_down else value is None


async def compute(conn: asyncpg.Connection, periods: list[Period], scope: Scope,
                  names: Iterable[str] | None = None) -> list[Cell]:
    """All cells of the wanted indicators (default: all), in one consistent snapshot of the projections."""
    wanted = list(names) if names else [i.name for i in INDICATORS]
    computed = sorted(pattern_needs(set(wanted)) | set(wanted))
    needed = {n for n in computed if n in FACTS}
    if "active_cases_per_filled_vza" in computed:
        needed |= {"active_cases", "vza_filled_at_end"}
    asked = {p.label for p in periods}
    every = sorted({q for p in periods for q in periods_of_year(calendar_year(p.label))})  # the pattern's scope
    args = ([p.label for p in every], [p.start for p in every], [p.end for p in every])
    async with snapshot(conn):
        rows = await conn.fetch(query(sorted(needed)), *args) if needed else []
    raw: dict[str, list[dict]] = {}
    for r in rows:
        value = _value(BY_NAME[r["indicator"]].aggregate, r)
        if value is not None:
            raw.setdefault(r["indicator"], []).append(dict(r) | {"value": value})
    cells: list[Cell] = []
    for name in computed:
        cells.extend(_cells(name, raw.get(name, []) if name in FACTS else _per_filled_vza(raw)))
    cells = [c for c in protect(cells) if c.indicator in wanted and c.period in asked
             and scope.wants(c.municipality, c.baustein)]
    order = {p.label: i for i, p in enumerate(periods)}
    cells.sort(key=lambda c: (order[c.period], c.indicator, c.municipality or "", c.baustein or "",
                              sorted(c.dimensions.items())))
    return cells


def _value(aggregate: Aggregate, row) -> Decimal | float | int | None:
    if aggregate is Aggregate.COUNT:
        return row["items"]
    if aggregate is Aggregate.SUM:
        return row["sum_x"]
    if aggregate is Aggregate.MEDIAN:
        return row["median_x"]
    return row["sum_x"] / row["sum_y"] if row["sum_y"] else None


def _cells(name: str, rows: list) -> list[Cell]:
    indicator = BY_NAME[name]
    out = []
    for r in rows:
        municipality = r["municipality"]
        if municipality == "*":
            continue  # a figure that is not broken down by municipality
        out.append(Cell(
            indicator=name, period=r["label"], municipality=municipality, baustein=r["baustein"],
            dimensions={indicator.dimension: r["dim"]} if indicator.dimension else {},
            value=rounded(name, r["value"]),
            persons=r["persons"] if indicator.person_based else None,
        ))
    return out


def _per_filled_vza(raw: dict[str, list]) -> list[dict]:
    """Active cases at period end per filled VZÄ at period end, where both exist; persons = the active cases'."""
    filled = {(r["label"], r["municipality"], r["baustein"]): r["value"] for r in raw.get("vza_filled_at_end", [])}
    out = []
    for r in raw.get("active_cases", []):
        vza = filled.get((r["label"], r["municipality"], r["baustein"]))
        if vza:
            out.append({"label": r["label"], "municipality": r["municipality"], "baustein": r["baustein"],
                        "dim": "", "value": Decimal(r["value"]) / Decimal(vza), "persons": r["persons"]})
    return out
