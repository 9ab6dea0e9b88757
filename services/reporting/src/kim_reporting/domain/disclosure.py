"""The disclosure audit: given everything published for some periods, can anybody recover a suppressed cell?

It sees only what leaves the service (public cells: value or suppressed). Per calendar year and family of indicators
it sets up every additivity equation among the published and suppressed cells, within each period and between a
period and its months / quarters / halves (domain/lattice.py, across_periods), and finds, by exact elimination, each
suppressed cell the equations determine. For counts it then bounds every suppressed cell
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
from .lattice import Key, Relation, across_periods, determined, family, order
from .periods import calendar_year
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
            families[(calendar_year(period), family(name)[0])].update({(period, k): c for k, c in cells.items()})
    for _, cells in sorted(families.items()):
        hidden = {k for k, c in cells.items() if c["suppressed"]}
        equations = across_periods(cells, {period for period, _ in tables})
        pinned = determined(equations, hidden)
        findings += [Finding(period, k, "determined") for period, k in pinned]
        if bounds and all(BY_NAME[k[0]].aggregate is Aggregate.COUNT for _, k in cells):
            known = {k: Fraction(str(c["value"])) for k, c in cells.items() if not c["suppressed"]}
            findings += _narrow(equations, known, hidden - set(pinned), min_width)
    return findings


def _narrow(equations: list[Relation], known: dict, hidden: set, min_width: float) -> list[Finding]:
    try:
        polytope = Polytope(equations, known, hidden)
    except ValueError:  # the published figures break an equation across periods (a count that is not additive
        by_period = defaultdict(list)  # over time on these data): bound within each period alone
        for eq in equations:
            if len({period for period, _ in eq}) == 1:
                by_period[next(iter(eq))[0]].append(eq)
        return [f for period, eqs in sorted(by_period.items())
                for f in _narrow(eqs, known, {k for k in hidden if k[0] == period}, min_width)]
    out = []
    for k in sorted(hidden, key=order):
        low, high = polytope.interval(k)
        if high is not None and high - low < min_width:
            out.append(Finding(k[0], k[1], "narrow", low, high))
    return out


def _shares(period: str, cells: dict[Key, dict], base: dict[Key, dict]) -> list[Finding]:
    out = []
    for k, c in sorted(cells.items(), key=lambda item: order(item[0])):
        base_cell = base.get((SHARES_PATTERN[k[0]], *k[1:]))
        if base_cell is not None and base_cell["suppressed"] and not c["suppressed"]:
            out.append(Finding(period, k, "shares_pattern"))
    return out
