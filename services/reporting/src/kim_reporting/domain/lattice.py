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
from fractions import Fraction

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


def order(key: Key) -> tuple:
    """A total order on keys (None first) so that every choice made over them is deterministic."""
    return tuple("" if part is None else "~" + part for part in key)


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


def _sum(total: Key, parts: list[Key], present: set[Key]) -> Relation:
    """total == sum(parts); absent parts are zeros. Without any part present the breakdown is not published."""
    relation = {p: 1 for p in parts if p in present}
    if relation:
        relation[total] = -1
    return relation


def determined(equations: list[Relation], hidden: set[Key]) -> list[Key]:
    """The hidden cells the equations pin to one value, given every other cell: reduced row echelon form over the
    rationals, restricted to the hidden cells; a cell is determined iff some reduced row is that cell alone."""
    pivots: dict[Key, dict[Key, Fraction]] = {}
    for equation in equations:
        row = {k: Fraction(c) for k, c in equation.items() if k in hidden and c}
        for k in [k for k in row if k in pivots]:
            _subtract(row, pivots[k], row.get(k, 0))
        if not row:
            continue
        pivot = min(row, key=order)
        scale = row[pivot]
        row = {k: v / scale for k, v in row.items()}
        for other in pivots.values():
            if pivot in other:
                _subtract(other, row, other[pivot])
        pivots[pivot] = row
    return sorted((p for p, row in pivots.items() if len(row) == 1), key=order)


def _subtract(row: dict[Key, Fraction], pivot_row: dict[Key, Fraction], factor: Fraction) -> None:
    if not factor:
        return
    for k, v in pivot_row.items():
        new = row.get(k, 0) - factor * v
        if new:
            row[k] = new
        else:
            row.pop(k, None)
