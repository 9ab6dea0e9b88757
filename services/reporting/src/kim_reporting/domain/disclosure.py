"""The disclosure audit: given everything published for some periods, can anybody recover a suppressed cell?

It sees only what leaves the service (public cells: value or suppressed). Per period and family of indicators it
sets up every additivity equation among the published and suppressed cells (domain/lattice.py) and finds, by exact
rational elimination, each suppressed cell the equations determine. For counts it then bounds every suppressed cell
by exact linear programming over the non-negative solutions (domain/bounds.py): a cell whose interval is narrower
than `min_width` is reported too. Cells that must share the active cases' pattern (domain/protection.py) are
reported when published beside a suppressed active_cases cell.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

from .bounds import Polytope
from .catalogue import BY_NAME, Aggregate
from .lattice import Key, determined, family, order, relations
from .protection import SHARES_PATTERN


@dataclass(frozen=True)
class Finding:
    period: str
    key: Key
    problem: str  # "determined", "narrow" or "shares_pattern"
    low: Fraction | None = None
    high: Fraction | None = None


def key_of(cell: dict) -> Key:
    return cell["indicator"], cell["municipality"], cell["baustein"], next(iter(cell["dimensions"].values()), "")


def audit(published: Iterable[dict], min_width: float = 1, bounds: bool = True) -> list[Finding]:
    """published: public cells ({'indicator', 'period', 'municipality', 'baustein', 'dimensions', 'value',
    'suppressed'}), e.g. every response of every breakdown for the periods, merged. Returns what leaks."""
    tables: dict[tuple[str, str], dict[Key, dict]] = defaultdict(dict)
    for c in published:
        if BY_NAME[c["indicator"]].person_based:
            tables[(c["period"], c["indicator"])][key_of(c)] = c
    findings: list[Finding] = []
    families = defaultdict(dict)
    for (period, name), cells in tables.items():
        if name in SHARES_PATTERN:
            findings += _shares(period, cells, tables.get((period, SHARES_PATTERN[name]), {}))
        else:
            families[(period, family(name)[0])].update(cells)
    for (period, _), cells in sorted(families.items()):
        hidden = {k for k, c in cells.items() if c["suppressed"]}
        equations = relations(cells)
        pinned = determined(equations, hidden)
        findings += [Finding(period, k, "determined") for k in pinned]
        if bounds and all(BY_NAME[k[0]].aggregate is Aggregate.COUNT for k in cells):
            known = {k: Fraction(str(c["value"])) for k, c in cells.items() if not c["suppressed"]}
            polytope = Polytope(equations, known, hidden)
            for k in sorted(hidden - set(pinned), key=order):
                low, high = polytope.interval(k)
                if high is not None and high - low < min_width:
                    findings.append(Finding(period, k, "narrow", low, high))
    return findings


def _shares(period: str, cells: dict[Key, dict], base: dict[Key, dict]) -> list[Finding]:
    out = []
    for k, c in sorted(cells.items(), key=lambda item: order(item[0])):
        base_cell = base.get((SHARES_PATTERN[k[0]], *k[1:]))
        if base_cell is not None and base_cell["suppressed"] and not c["suppressed"]:
            out.append(Finding(period, k, "shares_pattern"))
    return out
