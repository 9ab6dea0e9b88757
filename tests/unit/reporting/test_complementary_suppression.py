"""Complementary suppression and the disclosure audit, on cells built from individual cases (no I/O)."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from itertools import product
from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kim_reporting.domain.bounds import Polytope
from kim_reporting.domain.catalogue import BY_NAME
from kim_reporting.domain.disclosure import audit
from kim_reporting.domain.lattice import relations
from kim_reporting.domain.protection import protect
from kim_reporting.domain.suppression import MIN_PERSONS

from tests.properties import enough, examples

from .lattice_data import Case, every_response, lattice, merged, subtraction_attack

PERIODS = 200  # generated per run of `make test` (times KIM_PROPERTY_SCALE; tests/properties.py)

AGS = ["05978004", "05978008", "05978012", "05978016", "05978020"]


def active_cases(per_municipality: dict[str, tuple[int, ...]]) -> list:
    """Active cases with the given count per Baustein 1, 2, 3 in each municipality, one person each."""
    cases = [Case(m, str(b + 1), ("", "sgb2"), f"{m}-{b}-{i}")
             for m, counts in per_municipality.items() for b, n in enumerate(counts) for i in range(n)]
    return lattice(("active_cases",), cases)


FINDING = {AGS[0]: (1, 9, 12), AGS[1]: (2, 8, 7), AGS[2]: (13, 1, 15), AGS[3]: (10, 11, 12)}


def test_the_finding_small_baustein_cells_were_recoverable_by_subtraction_and_no_longer_are():
    today = [c.public() for c in active_cases(FINDING)]  # primary suppression only, as on main before
    assert subtraction_attack(today) == {(AGS[0], "1"): 1, (AGS[1], "1"): 2, (AGS[2], "2"): 1}
    assert {f.key[1:3] for f in audit(today)} == {(AGS[0], "1"), (AGS[1], "1"), (AGS[2], "2")}
    protected = [c.public() for c in protect(active_cases(FINDING))]
    assert subtraction_attack(protected) == {}
    assert audit(protected) == []
    small = {(c["municipality"], c["baustein"]) for c in today if c["suppressed"]}
    assert small < {(c["municipality"], c["baustein"]) for c in protected if c["suppressed"]}


def test_the_pattern_does_not_depend_on_the_order_of_the_cells_or_on_other_indicators():
    cells = active_cases(FINDING)
    shuffled = list(cells)
    random.Random(3).shuffle(shuffled)
    others = lattice(("naturalisations",), [Case(AGS[0], "1", ("",), "p1")])
    first = {(c.municipality, c.baustein) for c in protect(cells) if c.suppressed}
    assert {(c.municipality, c.baustein) for c in protect(shuffled + others)
            if c.suppressed and c.indicator == "active_cases"} == first


def test_ratios_over_the_active_cases_hide_what_active_cases_hide():
    cases = [Case(m, str(b + 1), ("", "sgb2"), f"{m}-{b}-{i}", x=i % 2)
             for m, counts in FINDING.items() for b, n in enumerate(counts) for i in range(n)]
    cells = protect(lattice(("active_cases",), cases) + lattice(("consent_coverage",), cases))
    hidden = {name: {(c.municipality, c.baustein) for c in cells if c.indicator == name and c.suppressed}
              for name in ("active_cases", "consent_coverage")}
    assert hidden["consent_coverage"] == hidden["active_cases"] != set()
    coverage_first = [c.public() for c in cells if c.indicator == "consent_coverage"] + \
        [c.public() for c in cells if c.indicator == "active_cases"]
    assert audit(coverage_first) == []


def test_the_bounds_of_a_hidden_cell_are_exact_on_a_two_by_two_table():
    # a=1 b=10 / c=6 d=7 hidden, margins published: a moves with -d and +b, +c: a in [1-min(1,7), 1+min(10,6)]
    cells = active_cases({AGS[0]: (1, 10), AGS[1]: (6, 7)})
    keys = {("active_cases", c.municipality, c.baustein, ""): c for c in cells}
    hidden = {k for k in keys if k[1] and k[2]}
    known = {k: Fraction(c.value) for k, c in keys.items() if k not in hidden}
    polytope = Polytope(relations(keys), known, hidden)
    assert polytope.interval(("active_cases", AGS[0], "1", "")) == (0, 7)
    assert polytope.interval(("active_cases", AGS[1], "2", "")) == (6, 13)


FAMILIES = [("active_cases", "rechtskreis_mix"), ("intakes", "residence_status_at_intake"),
            ("closures", "residence_status_at_closure"), ("referrals",), ("naturalisations",), ("goal_rate",),
            ("status_improvements",)]
WIDTH = MIN_PERSONS - 1
GENERATED = {"cases": 0, "hidden": 0, "withheld": 0, "narrower_than_threshold": 0}


@st.composite
def periods(draw):
    """A family of indicators and its cases: a count per finest cell, drawn from a mix of small and larger ones."""
    family = draw(st.sampled_from(FAMILIES))
    places = list(product(AGS[:draw(st.integers(1, 5))], ["1", "2", "3", "unbekannt"][:draw(st.integers(1, 4))],
                          *[[f"v{v}" for v in range(draw(st.integers(1, 3)) if BY_NAME[n].dimension else 1)]
                            for n in family]))
    counts = draw(st.lists(st.sampled_from([0, 0, 1, 2, 3, 4, 5, 6, 8, 12, 20]), min_size=len(places),
                           max_size=len(places)))
    twice = draw(st.booleans())  # some persons have two cases in one cell: fewer persons than items
    cases = []
    for (m, b, *dims), n in zip(places, counts):
        for i in range(n):
            values = tuple(d if BY_NAME[name].dimension else "" for d, name in zip(dims, family))
            cases.append(Case(m, b, values, f"{m}{b}{dims}{i // 2 if twice else i}", x=i % 3, y=3))
    return family, cases


@settings(max_examples=examples(PERIODS), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(periods())
def _everything_published_for_a_generated_period_passes_the_audit(period):
    family, cases = period
    cells = protect(lattice(family, cases))
    published = merged(every_response(cells))
    findings = audit(published, min_width=WIDTH)
    leaks = [f for f in findings if f.problem != "narrow" or f.high - f.low < 1]
    assert leaks == [], (leaks[:5], sorted((str(c.key()), c.value, c.persons, c.withheld) for c in cells))
    GENERATED["cases"] += 1
    GENERATED["hidden"] += sum(c.suppressed for c in cells)
    GENERATED["withheld"] += sum(c.withheld for c in cells)
    GENERATED["narrower_than_threshold"] += len(findings)
    assert all(c.persons >= MIN_PERSONS for c in cells if not c.suppressed)


def test_no_hidden_cell_is_determined_or_narrowly_bounded_by_everything_published():
    """Every breakdown and filter of a generated period, merged, passes the audit (rank test and exact bounds)."""
    _everything_published_for_a_generated_period_passes_the_audit()
    print(f"\nproperty test: {GENERATED['cases']} generated periods, {GENERATED['hidden']} hidden cells of which "
          f"{GENERATED['withheld']} complementary; {GENERATED['narrower_than_threshold']} hidden cells bounded to an "
          f"interval narrower than {MIN_PERSONS - 1} (none narrower than 1)")
    assert GENERATED["cases"] >= enough(PERIODS)


def test_the_pattern_is_the_same_in_every_process_whatever_the_string_hashing():
    """Two replicas of the service must hide the same cells, or comparing their answers would give cells back."""
    script = ("from tests.unit.reporting.test_complementary_suppression import *\n"
              "cases = [Case(m, b, ('', f'v{i % 3}'), f'{m}{b}{i}') for m, counts in FINDING.items()\n"
              "         for b, n in zip('123', counts) for i in range(n)]\n"
              "print(sorted(str(c.key()) for c in protect(lattice(('active_cases', 'rechtskreis_mix'), cases))\n"
              "             if c.suppressed))")
    runs = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                           env=os.environ | {"PYTHONHASHSEED": seed}).stdout for seed in ("1", "2", "3")}
    assert len(runs) == 1 and "rechtskreis_mix" in runs.pop()
