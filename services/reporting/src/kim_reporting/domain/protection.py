"""Complementary suppression: which further cells to hide so that no hidden cell follows from the published ones.

The pattern is computed once per (family of indicators, period) over every breakdown the API can return (totals,
by municipality, by Baustein, by both, each per dimension value), and every response is cut from it; so the same
data give the same pattern whichever breakdown is asked first. Rule (README, "Suppression"):
1. primary: a cell resting on fewer than MIN_PERSONS persons is hidden;
2. complementary: while the additivity equations (domain/lattice.py) determine a hidden cell, hide one more
   published cell of an equation through it: the one closing most equations that already hold a hidden cell, then
   the finest (fewest "all"), then the smallest, then by key;
3. consent_coverage and active_cases_per_filled_vza (ratios over the active cases, whose denominator is published)
   hide exactly the cells active_cases hides, besides their own small ones.
Ratios and medians are treated as if they added up, which is stricter than needed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from functools import lru_cache

from .catalogue import BY_NAME, Aggregate
from .lattice import Key, PKey, Relation, across_periods, family, perhaps_determined, order
from .periods import calendar_year
from .suppression import MIN_PERSONS, Cell

SHARES_PATTERN = {"consent_coverage": "active_cases", "active_cases_per_filled_vza": "active_cases"}


def key_of(cell: Cell) -> Key:
    return cell.indicator, cell.municipality, cell.baustein, next(iter(cell.dimensions.values()), "")


def needed(names: set[str]) -> set[str]:
    """The indicators whose cells decide the pattern of the given ones."""
    with_bases = names | {SHARES_PATTERN[n] for n in names if n in SHARES_PATTERN}
    return {m for n in with_bases for m in family(n)}


def protect(cells: list[Cell]) -> list[Cell]:
    """The cells (all breakdowns of one or more periods) with the complementary ones marked as withheld."""
    groups: dict[tuple[str, str], list[Cell]] = defaultdict(list)
    for c in cells:
        if c.persons is not None and c.indicator not in SHARES_PATTERN:
            groups[(calendar_year(c.period), family(c.indicator)[0])].append(c)
    hidden: set[PKey] = set()
    for group in groups.values():
        entries = tuple(sorted((((c.period, key_of(c)), _weight(c), c.small) for c in group),
                               key=lambda e: order(e[0])))
        hidden |= pattern(entries, frozenset(c.period for c in cells))
    out = []
    for c in cells:
        key = key_of(c)
        if c.indicator in SHARES_PATTERN:
            key = (SHARES_PATTERN[c.indicator], *key[1:])
        withheld = (c.period, key) in hidden and not c.small
        out.append(replace(c, withheld=True) if withheld else c)
    return out


def _weight(c: Cell) -> float:
    return float(c.value or 0) if BY_NAME[c.indicator].aggregate is Aggregate.COUNT else float(c.persons or 0)


@lru_cache(maxsize=512)
def pattern(entries: tuple[tuple[PKey, float, bool], ...], periods: frozenset[str] = frozenset()) -> frozenset[PKey]:
    """entries: ((period, key), weight, primary) of one family and calendar year; periods: every period computed
    (a family without cells in one of them has zeros there). Returns every cell to hide."""
    weight = {k: w for k, w, _ in entries}
    hidden = {k for k, _, primary in entries if primary}
    if not hidden:
        return frozenset()
    equations = across_periods(weight, periods)
    through: dict[PKey, list[int]] = defaultdict(list)
    for i, eq in enumerate(equations):
        for k in eq:
            through[k].append(i)
    _widen(equations, hidden, weight, frozenset(hidden))
    count = [sum(k in hidden for k in eq) for eq in equations]  # hidden cells per equation

    def hide(k: PKey) -> None:
        hidden.add(k)
        for i in through[k]:
            count[i] += 1

    def cost(k: PKey) -> tuple:
        return -sum(1 for i in through[k] if count[i]), _coarseness(k), weight.get(k, 0.0), order(k)
    while True:
        # the cheap case first: an equation with exactly one hidden cell gives it away; hide its best other cell
        singles = [i for i, n in enumerate(count) if n == 1]
        for i in singles:
            if count[i] == 1:
                hide(min((k for k in equations[i] if k not in hidden), key=cost))
        if singles:
            continue
        closed: set[int] = set()
        for cell in perhaps_determined(equations, hidden):  # the exact test, once no equation holds a lone hidden cell
            if closed.isdisjoint(through[cell]):  # else an equation through it just got a hidden cell: look again
                extra = _complement(cell, equations, through, hidden, cost)
                if extra is not None:
                    hide(extra)
                    closed |= set(through[extra])
        if not closed:
            return frozenset(hidden)  # nothing determined (or, cannot happen, nothing left to hide)


def _widen(equations: list[Relation], hidden: set[PKey], weight: dict[PKey, float], small: frozenset[PKey]) -> None:
    """Where all hidden cells of an equation through a small cell stand on one side, their sum is published in
    effect and bounds each of them: hide further cells of it (smallest first) until that sum reaches MIN_PERSONS."""
    for eq in equations:
        while not small.isdisjoint(eq):
            inside = [k for k in eq if k in hidden]
            if len({eq[k] for k in inside}) > 1 or sum(weight[k] for k in inside) >= MIN_PERSONS:
                break
            rest = [k for k in eq if k not in hidden and eq[k] == eq[inside[0]]]
            if not rest:
                break
            hidden.add(min(rest, key=lambda k: (_coarseness(k), weight[k], order(k))))


def _complement(cell: PKey, equations: list[Relation], through: dict[PKey, list[int]], hidden: set[PKey],
                cost) -> PKey | None:
    near = {k for i in through[cell] for k in equations[i]} - hidden
    if not near:  # every neighbour is hidden: the cell is pinned through a chain; widen to all equations in play
        near = {k for eq in equations if hidden & eq.keys() for k in eq} - hidden
    return min(near, key=cost, default=None)


def _coarseness(k: PKey) -> tuple[int, int]:
    """How many of municipality / Baustein are "all", then how long the period is: finer cells are hidden first."""
    period = k[0]
    return (k[1][1] is None) + (k[1][2] is None), 3 if len(period) == 4 else 2 if "H" in period else "Q" in period
