"""Grant rules: positions never take more VZÄ than the grant funds on any day; dates inside the period."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kim_runtime.errors import RuleViolation
from kim_schemas.codes import Baustein
from kim_schemas.staffing import FundingSource

from kim_staffing.domain.grant import Grant
from kim_staffing.domain.position import establish
from kim_staffing.domain.timeline import Span, peak

FROM, TO = date(2025, 1, 1), date(2025, 12, 31)


def grant(vza: str = "2.0") -> Grant:
    g = Grant("g1")
    g.apply(Grant.award("g1", Baustein.CASE_MANAGEMENT, FROM, TO, Decimal(vza), Decimal("56000.00")))
    return g


def position_fields(**extra) -> dict:
    return {"baustein": Baustein.CASE_MANAGEMENT, "vza": Decimal("1.0"), "host_organisation_id": "kreis-unna",
            "municipality": "05978024", "funding_source": FundingSource.KIM_GRANT, "valid_from": FROM} | extra


def test_a_position_that_does_not_fit_is_refused_with_what_is_free():
    g = grant("2.0")
    taken = [(Span(FROM), Decimal("1.5"))]
    with pytest.raises(RuleViolation, match=r"funds 2.0 VZÄ: at most 0.5 VZÄ are free"):
        g.admit(Baustein.CASE_MANAGEMENT, Span(date(2025, 6, 1)), Decimal("1.0"), taken)
    g.admit(Baustein.CASE_MANAGEMENT, Span(date(2025, 6, 1)), Decimal("0.5"), taken)


def test_positions_after_one_ends_fit_again():
    g = grant("1.0")
    first_half = [(Span.inclusive(FROM, date(2025, 6, 30)), Decimal("1.0"))]
    g.admit(Baustein.CASE_MANAGEMENT, Span(date(2025, 7, 1)), Decimal("1.0"), first_half)
    with pytest.raises(RuleViolation):
        g.admit(Baustein.CASE_MANAGEMENT, Span(date(2025, 6, 30)), Decimal("1.0"), first_half)


def test_wrong_baustein_is_refused():
    with pytest.raises(RuleViolation, match="funds Baustein 2, not Baustein 3"):
        grant().admit(Baustein.AUTHORITIES, Span(FROM), Decimal("0.5"), [])


@pytest.mark.parametrize("dates", [{"valid_from": date(2024, 12, 31)}, {"valid_to": date(2026, 1, 1)}])
def test_position_dates_must_lie_inside_the_grant_period(dates):
    with pytest.raises(RuleViolation, match="outside grant g1"):
        establish("p1", grant=grant(), **position_fields(**dates))


def test_funding_source_and_grant_go_together():
    with pytest.raises(RuleViolation, match="grant_id"):
        establish("p1", grant=None, **position_fields())
    with pytest.raises(RuleViolation, match="grant_id"):
        establish("p1", grant=grant(), **position_fields(funding_source=FundingSource.MUNICIPALITY))


def test_a_grant_needs_vza():
    with pytest.raises(RuleViolation):
        Grant.award("g", Baustein.CASE_MANAGEMENT, FROM, TO, Decimal(0), Decimal(1))


requests = st.lists(st.tuples(st.integers(0, 364), st.integers(1, 400),
                              st.sampled_from([Decimal("0.5"), Decimal("1.0"), Decimal("0.25")])), max_size=12)


@given(requests)
def test_admitted_positions_never_exceed_the_grant_on_any_day(asks):
    g = grant("2.0")
    admitted: list = []
    for start, length, vza in asks:
        span = Span(FROM + timedelta(days=start), FROM + timedelta(days=start + length))
        would_be = peak([*admitted, (span, vza)], g.period)
        try:
            g.admit(Baustein.CASE_MANAGEMENT, span, vza, admitted)
        except RuleViolation:
            assert would_be > Decimal("2.0")  # refused only when it truly does not fit
            continue
        admitted.append((span, vza))
        assert peak(admitted, g.period) <= Decimal("2.0")
