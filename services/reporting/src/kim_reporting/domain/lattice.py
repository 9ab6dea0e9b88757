"""The linear equations that tie the cells of one period together, and which hidden cells they determine.

A cell is (indicator, municipality, Baustein, dimension value); None stands for "all of them". Counts add up: a
municipality's figure is the sum of its Bausteine, a Baustein's the sum of its municipalities, the grand total both.
Indicators of one family count the same population (FAMILIES), so their breakdowns by different dimensions sum to
the same figure for every (municipality, Baustein). A cell that is absent is a known zero. Determination is decided
by exact rational elimination: a hidden cell is determined iff its unit vector lies in the row space of the
equations restricted to the hidden cells (the published ones are constants).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from functools import reduce
from heapq import heapify, heappop, heappush
from math import gcd

from .catalogue import BY_NAME, Aggregate
from .periods import children

Key = tuple[str, str | None, str | None, str]  # indicator, municipality, baustein, dimension value ("" for none)
Relation = dict[Key, int]  # sum(coefficient * cell) == 0

# Indicators counting one population: every case of one is a case of each other, broken down differently.
FAMILIES: tuple[tuple[str, ...], ...] = (
    ("active_cases", "rechtskreis_mix"),
    ("intakes", "residence_status_at_intake"),
    ("closures", "residence_status_at_closure"),
)
FAMILY_OF = {name: family for family in FAMILIES for name in family}


def family(indicator: str) -> tuple[str, ...]:
    return FAMILY_OF.get(indicator, (indicator,))


def order(key: tuple) -> tuple:
    """A total order on keys (None first) so that every choice made over them is deterministic. Keys of a year's
    system are (period label, key) pairs; they sort by period, then key."""
    return tuple(order(part) if isinstance(part, tuple) else "" if part is None else "~" + part for part in key)


def relations(keys: Iterable[Key]) -> list[Relation]:
    """Every additivity equation among the given cells (one family of indicators, one period), in an order that does
    not depend on the order of the keys (nor on string hashing): the pattern built on them is the same everywhere."""
    keys = set(keys)
    out: list[Relation] = []
    by_table: dict[tuple[str, str], set[Key]] = defaultdict(set)
    for k in keys:
        by_table[(k[0], k[3])].add(k)
    for (name, dim), cells in sorted(by_table.items()):
        municipalities = sorted({k[1] for k in cells if k[1] is not None})
        bausteine = sorted({k[2] for k in cells if k[2] is not None})
        for b in [None, *bausteine]:
            out.append(_sum((name, None, b, dim), [(name, m, b, dim) for m in municipalities], keys))
        for m in [None, *municipalities]:
            out.append(_sum((name, m, None, dim), [(name, m, b, dim) for b in bausteine], keys))
    members = sorted({k[0] for k in keys}, key=lambda n: family(n).index(n) if n in family(n) else 0)
    by_place: dict[tuple, Relation] = defaultdict(dict)
    for k in sorted(keys, key=order):
        for other in members[1:]:
            if k[0] in (members[0], other):
                by_place[(other, k[1], k[2])][k] = 1 if k[0] == members[0] else -1
    out.extend(by_place[place] for place in sorted(by_place, key=order))
    return [r for r in out if r]


# Counts at the period's end (a stock): a parent period's figure is its last child's, not the sum of its children.
STOCKS = frozenset({"active_cases", "rechtskreis_mix"})
PKey = tuple[str, Key]  # (period label, key): a cell of a year's system


def across_periods(keys: Iterable[PKey], periods: Iterable[str] = ()) -> list[Relation]:
    """Every equation of a calendar year's system: each period's own (relations), and for counts the ones between
    a period and the periods one level down (year = H1 + H2, half = its quarters, quarter = its months; for stocks
    parent = last child). A period takes part only when it and all its children were computed (`periods`, besides
    the keys' own); a cell absent from a period that takes part is a known zero. A cell absent from the parent while
    a child has it shows the count is not additive there (e.g. a case that moved between municipalities): no
    equation for it. Ratios and medians do not add up across periods."""
    keys = set(keys)
    by_period: dict[str, set[Key]] = defaultdict(set)
    for period, key in keys:
        by_period[period].add(key)
    out = [{(period, k): c for k, c in r.items()} for period in sorted(by_period) for r in relations(by_period[period])]
    computed = set(by_period) | set(periods)
    for parent in sorted(by_period):
        parts = children(parent)
        if not parts or any(p not in computed for p in parts):
            continue
        cells = sorted((k for k in by_period[parent] if BY_NAME[k[0]].aggregate is Aggregate.COUNT), key=order)
        for k in cells:
            summed = parts[-1:] if k[0] in STOCKS else parts
            out.append(_sum((parent, k), [(p, k) for p in summed], keys))
    return [r for r in out if r]


def _sum(total: Key, parts: list[Key], present: set[Key]) -> Relation:
    """total == sum(parts); absent parts are zeros. Without any part present the breakdown is not published."""
    relation = {p: 1 for p in parts if p in present}
    if relation:
        relation[total] = -1
    return relation


def determined(equations: list[Relation], hidden: set) -> list:
    """The hidden cells the equations pin to one value, given every other cell: reduced row echelon form, restricted
    to the hidden cells, exact over the integers (fraction-free: each row is kept divided by the gcd of its
    coefficients, which is exact and much faster than rationals); a cell is determined iff some reduced row is that
    cell alone."""
    index = {k: i for i, k in enumerate(sorted(hidden, key=order))}
    pivots: dict[int, dict[int, int]] = {}
    for equation in equations:
        row = {index[k]: c for k, c in equation.items() if c and k in index}
        for j in [j for j in row if j in pivots]:
            if j in row:
                row = _eliminate(row, pivots[j], j)
        if not row:
            continue
        pivot = min(row)
        if row[pivot] < 0:
            row = {j: -v for j, v in row.items()}
        for j, other in pivots.items():
            if pivot in other:
                pivots[j] = _eliminate(other, row, pivot)
        pivots[pivot] = row
    keys = sorted(hidden, key=order)
    return [keys[p] for p, row in sorted(pivots.items()) if len(row) == 1]


PRIME = 2**61 - 1


def perhaps_determined(equations: list[Relation], hidden: set) -> list:
    """A superset of determined(), much faster on large systems (what protection uses). A hidden cell is undetermined
    iff some solution of the homogeneous equations moves it. Sparse fraction-free elimination to echelon form (no
    back-reduction; the pivot of each row is its cell in fewest equations, which keeps the rows short), then one
    such solution: each free cell gets a fixed pseudo-random value, the pivots follow by back-substitution (modulo a
    prime, exact because no pivot coefficient is a multiple of it). Every cell it moves is certainly undetermined;
    the others are returned: the determined ones and, rarely, an unlucky undetermined one (hidden to be safe)."""
    keys = sorted(hidden, key=order)
    index = {k: i for i, k in enumerate(keys)}
    rows = [r for r in ({index[k]: c for k, c in eq.items() if c and k in index} for eq in equations) if r]
    uses: dict[int, int] = defaultdict(int)
    for row in rows:
        for j in row:
            uses[j] += 1
    when: dict[int, int] = {}  # pivot column -> position in `pivots`
    pivots: list[tuple[int, dict[int, int]]] = []
    for row in rows:
        queue = [when[j] for j in row if j in when]
        heapify(queue)
        queued = set(queue)
        while queue:  # a pivot row holds no column pivoted before it: eliminating in pivot order terminates
            column, pivot_row = pivots[heappop(queue)]
            if column not in row:
                continue
            row = _eliminate(row, pivot_row, column)
            for j in pivot_row:
                if j in when and j in row and when[j] not in queued:
                    queued.add(when[j])
                    heappush(queue, when[j])
        if row:
            column = min(row, key=lambda j: (uses[j], j))
            if row[column] % PRIME == 0:
                return keys  # never on these systems; fall back to hiding more rather than guessing
            when[column] = len(pivots)
            pivots.append((column, row))
    value = {j: (j + 1) * 0x9E3779B97F4A7C15 % PRIME or 1 for j in range(len(keys)) if j not in when}
    for column, row in reversed(pivots):
        rest = sum(c * value[j] for j, c in row.items() if j != column)
        value[column] = -rest * pow(row[column], -1, PRIME) % PRIME
    return [keys[j] for j in range(len(keys)) if value[j] == 0]


def _eliminate(row: dict[int, int], pivot_row: dict[int, int], j: int) -> dict[int, int]:
    """row with its j-th coefficient cancelled by a multiple of pivot_row, scaled to integers with gcd 1."""
    a, b = pivot_row[j], row[j]
    g = gcd(a, b)
    a, b = a // g, b // g
    out = {k: a * v for k, v in row.items()}
    for k, v in pivot_row.items():
        new = out.get(k, 0) - b * v
        if new:
            out[k] = new
        else:
            out.pop(k, None)
    g = reduce(gcd, out.values(), 0)
    if g > 1:
        out = {k: v // g for k, v in out.items()}
    if a < 0 and out:  # keep the pivot coefficient of a pivot row positive
        out = {k: -v for k, v in out.items()}
    return out
