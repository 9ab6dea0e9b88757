"""Suppression over a calendar year's months, quarters, halves and the year together: nothing hidden follows from
everything published for the year (exact audit over the union of all periods and breakdowns)."""

from __future__ import annotations

import random
from itertools import product

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kim_reporting.domain.catalogue import BY_NAME
from kim_reporting.domain.disclosure import audit
from kim_reporting.domain.lattice import STOCKS, across_periods, determined, order, perhaps_determined
from kim_reporting.domain.periods import children, periods_of_year
from kim_reporting.domain.protection import protect
from kim_reporting.domain.suppression import MIN_PERSONS

from tests.properties import enough, examples

from .lattice_data import YEAR, Case, every_response, merged, year_lattice

YEARS = 60  # generated per run of `make test` (times KIM_PROPERTY_SCALE; tests/properties.py)

AGS = ["05978004", "05978008", "05978012"]
FAMILIES = [("intakes", "residence_status_at_intake"), ("active_cases", "rechtskreis_mix"), ("closures",),
            ("referrals",), ("course_starts",)]
GENERATED = {"years": 0, "cells": 0, "hidden": 0, "withheld": 0}


def per_period_protection(cells: list) -> list:
    """main before this change: one pattern per period, blind to the equations between periods."""
    return [c for p in periods_of_year(YEAR) for c in protect([c for c in cells if c.period == p.label])]


def probe_cases() -> list[Case]:
    """The stranger's finding: 8 intakes in the year, 1 in H1 (small), 7 in H2: year minus H2 gives H1."""
    months = [3] + [7, 7, 8, 9, 10, 11, 12]
    return [Case(AGS[0], "1", ("migrationsberatung", "gestattung"), f"p{i}", month=m) for i, m in enumerate(months)]


def test_the_probe_year_minus_half_year_recovered_the_hidden_half_and_no_longer_does():
    cells = year_lattice(FAMILIES[0], probe_cases())
    before = audit(merged(every_response(per_period_protection(cells))))
    assert any(f.period == f"{YEAR}-H1" and f.key[0] == "intakes" for f in before), before
    protected = protect(cells)
    assert audit(merged(every_response(protected))) == []
    assert all(c.persons >= MIN_PERSONS for c in protected if not c.suppressed)


def test_stocks_are_the_last_child_and_flows_the_sum_of_the_children():
    """The equations across periods hold on the data: a stock's parent equals its last child, a flow's the sum."""
    rng = random.Random(5)
    for family in FAMILIES[:2]:
        cases = [Case(rng.choice(AGS), "1", ("", "sgb2") if family[0] in STOCKS else ("web", "gestattung"),
                      f"p{i}", month=rng.randrange(1, 13), until=rng.randrange(2, 14)) for i in range(60)]
        cells = year_lattice(family, cases)
        value = {(c.period, c.indicator, c.municipality, c.baustein, tuple(c.dimensions.items())): c.value
                 for c in cells}
        equations = across_periods({(c.period, (c.indicator, c.municipality, c.baustein,
                                                next(iter(c.dimensions.values()), ""))) for c in cells})
        assert any(len({p for p, _ in eq}) > 1 for eq in equations)
        for eq in equations:
            total = sum(coefficient * next((v for k, v in value.items() if k[0] == period and k[1] == key[0]
                                            and k[2:4] == key[1:3] and (not k[4] or k[4][0][1] == key[3])), 0)
                        for (period, key), coefficient in eq.items())
            assert total == 0, eq
    assert children(YEAR) == [f"{YEAR}-H1", f"{YEAR}-H2"] and children(f"{YEAR}-Q2") == [
        f"{YEAR}-04", f"{YEAR}-05", f"{YEAR}-06"] and children(f"{YEAR}-07") == []


@st.composite
def years(draw):
    """A family of indicators and a year of its cases: a count per (finest cell, month), mostly small."""
    family = draw(st.sampled_from(FAMILIES))
    places = list(product(AGS[:draw(st.integers(1, 2))], ["1", "2"][:draw(st.integers(1, 2))],
                          *[[f"v{v}" for v in range(draw(st.integers(1, 2)) if BY_NAME[n].dimension else 1)]
                            for n in family]))
    cases = []
    for m, b, *dims in places:
        size = draw(st.sampled_from([2, 8, 30, 70]))  # from a few cases a year (all small) to many (few small)
        for month in draw(st.lists(st.integers(1, 12), min_size=0, max_size=size)):
            values = tuple(d if BY_NAME[name].dimension else "" for d, name in zip(dims, family))
            until = draw(st.sampled_from([13, 13, min(13, month + 1), min(13, month + 4)]))
            cases.append(Case(m, b, values, f"p{len(cases)}", month=month, until=until))
    return family, cases


@settings(max_examples=examples(YEARS), deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(years())
def _everything_published_for_a_generated_year_passes_the_audit(year):
    family, cases = year
    cells = protect(year_lattice(family, cases))
    published = merged(every_response(cells))
    findings = audit(published, min_width=1)
    assert findings == [], (findings[:5], sorted((str(c.key()), c.value, c.persons, c.withheld) for c in cells))
    assert all(c.persons >= MIN_PERSONS for c in cells if not c.suppressed)
    GENERATED["years"] += 1
    GENERATED["cells"] += len(cells)
    GENERATED["hidden"] += sum(c.suppressed for c in cells)
    GENERATED["withheld"] += sum(c.withheld for c in cells)


def test_no_hidden_cell_follows_from_everything_published_for_a_generated_year():
    """Every breakdown and filter of every month, quarter, half-year and the year, merged, passes the exact audit
    (rank test and exact bounds: no hidden cell within an interval narrower than 1)."""
    _everything_published_for_a_generated_year_passes_the_audit()
    print(f"\nproperty test: {GENERATED['years']} generated years, {GENERATED['cells']} cells, {GENERATED['hidden']} "
          f"hidden of which {GENERATED['withheld']} complementary: the exact audit over each year finds nothing")
    assert GENERATED["years"] >= enough(YEARS)


def test_the_fast_test_finds_every_cell_the_exact_one_finds():
    """perhaps_determined (protection) returns a superset of determined (the audit) on random hidden sets."""
    rng = random.Random(11)
    cases = [Case(rng.choice(AGS), rng.choice("12"), (f"v{rng.randrange(2)}", f"w{rng.randrange(2)}"), f"p{i}",
                  month=rng.randrange(1, 13)) for i in range(40)]
    keys = {(c.period, (c.indicator, c.municipality, c.baustein, next(iter(c.dimensions.values()))))
            for c in year_lattice(FAMILIES[0], cases)}
    equations = across_periods(keys)
    ordered = sorted(keys, key=order)
    for size in (5, 20, 60, 150):
        hidden = set(rng.sample(ordered, size))
        exact = set(determined(equations, hidden))
        assert exact <= set(perhaps_determined(equations, hidden))
        assert exact == set(perhaps_determined(equations, hidden)) or size > 100  # a witness rarely misses


def test_the_pattern_does_not_depend_on_the_order_of_the_cells():
    rng = random.Random(3)
    cases = [Case(rng.choice(AGS), "1", (f"v{rng.randrange(3)}", "x"), f"p{i}", month=rng.randrange(1, 13))
             for i in range(50)]
    cells = year_lattice(FAMILIES[0], cases)
    shuffled = list(cells)
    rng.shuffle(shuffled)
    assert {c.key() for c in protect(cells) if c.suppressed} == {c.key() for c in protect(shuffled) if c.suppressed}
