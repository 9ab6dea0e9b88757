"""Caseload limits: one event per crossing, in each direction, and the limit scales with the VZÄ share."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st
from kim_schemas.staffing import CaseloadBackWithinLimit, CaseloadLimitExceeded

from kim_staffing.domain.caseload import Caseload, limit_for, per_vza

NOW = datetime(2025, 5, 1, tzinfo=UTC)


def test_limit_scales_with_the_share_rounded_down():
    assert limit_for(Decimal("1.0"), 40) == 40
    assert limit_for(Decimal("0.75"), 35) == 26


def test_crossing_up_and_back():
    up = Caseload("cm", 41, Decimal(1), over_limit=False).check(40, NOW)
    assert isinstance(up, CaseloadLimitExceeded) and up.active_cases == 41 and up.limit == 40
    assert Caseload("cm", 42, Decimal(1), over_limit=True).check(40, NOW) is None
    back = Caseload("cm", 40, Decimal(1), over_limit=True).check(40, NOW)
    assert isinstance(back, CaseloadBackWithinLimit)
    assert Caseload("cm", 40, Decimal(1), over_limit=False).check(40, NOW) is None


def test_cases_per_vza():
    assert per_vza(30, Decimal("0.75")) == Decimal("40.00")
    assert per_vza(3, Decimal(0)) is None


@given(st.lists(st.integers(0, 10), max_size=40), st.integers(1, 6))
def test_one_event_per_crossing(counts, limit):
    over = False
    for previous, active in zip([0, *counts], counts, strict=False):
        event = Caseload("cm", active, Decimal(1), over).check(limit, NOW)
        crossed = (previous > limit) != (active > limit)
        assert (event is not None) == crossed
        if event is not None:
            over = isinstance(event, CaseloadLimitExceeded)
        assert over == (active > limit)
