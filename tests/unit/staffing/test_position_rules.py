"""Position rules: never filled beyond its VZÄ on any day; vacating only what is held; state rebuilt from events."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kim_runtime.errors import RuleViolation
from kim_schemas.codes import Baustein
from kim_schemas.staffing import FundingSource, VacancyReason

from kim_staffing.domain.grant import Grant
from kim_staffing.domain.position import Position, establish
from kim_staffing.domain.timeline import peak

FROM = date(2025, 1, 1)
QUIT = VacancyReason.RESIGNATION


def position(vza: str = "1.0", grant: Grant | None = None, **extra) -> Position:
    p = Position("p1")
    source = FundingSource.KIM_GRANT if grant else FundingSource.MUNICIPALITY
    p.apply(establish("p1", grant=grant, baustein=Baustein.CASE_MANAGEMENT, vza=Decimal(vza),
                      host_organisation_id="stadt-luenen", municipality="05978024", funding_source=source,
                      valid_from=FROM, **extra))
    return p


def test_cannot_fill_beyond_the_vza():
    p = position("1.0")
    p.apply(p.fill("a", Decimal("0.75"), FROM, None))
    with pytest.raises(RuleViolation, match="at most 0.25 VZÄ can be filled"):
        p.fill("b", Decimal("0.5"), date(2025, 2, 1), None)
    p.apply(p.fill("b", Decimal("0.25"), date(2025, 2, 1), None))
    assert p.filled_on(date(2025, 3, 1)) == Decimal("1.0")


def test_a_later_vacancy_frees_the_share_from_that_day():
    p = position("1.0")
    p.apply(p.fill("a", Decimal("1.0"), FROM, None))
    p.apply(p.vacate("a", None, date(2025, 7, 1), QUIT))
    with pytest.raises(RuleViolation):
        p.fill("b", Decimal("1.0"), date(2025, 6, 30), None)  # a still holds it on 30 June
    p.apply(p.fill("b", Decimal("1.0"), date(2025, 7, 1), None))


def test_partial_vacancy_keeps_the_rest():
    p = position("1.0")
    p.apply(p.fill("a", Decimal("1.0"), FROM, None))
    p.apply(p.vacate("a", Decimal("0.5"), date(2025, 4, 1), VacancyReason.PARENTAL_LEAVE))
    assert p.filled_on(date(2025, 4, 1)) == Decimal("0.5")
    assert p.current("a").share == Decimal("0.5")


def test_vacate_refusals():
    p = position("1.0")
    with pytest.raises(RuleViolation, match="does not fill"):
        p.vacate("a", None, date(2025, 2, 1), QUIT)
    p.apply(p.fill("a", Decimal("0.5"), FROM, None))
    with pytest.raises(RuleViolation, match="at most the 0.5 VZÄ held"):
        p.vacate("a", Decimal("0.75"), date(2025, 2, 1), QUIT)
    with pytest.raises(RuleViolation, match="must be after"):
        p.vacate("a", None, FROM, QUIT)
    with pytest.raises(RuleViolation, match="already fills"):
        p.fill("a", Decimal("0.25"), date(2025, 3, 1), None)


def test_fill_dates_inside_the_position_and_the_grant():
    g = Grant("g1")
    g.apply(Grant.award("g1", Baustein.CASE_MANAGEMENT, FROM, date(2025, 12, 31), Decimal(2), Decimal(56000)))
    p = position("1.0", grant=g, valid_to=date(2025, 12, 31))
    with pytest.raises(RuleViolation, match="outside the position's validity"):
        p.fill("a", Decimal("1.0"), date(2024, 12, 1), g)
    with pytest.raises(RuleViolation, match="outside"):
        p.fill("a", Decimal("1.0"), date(2026, 1, 1), g)


def test_a_position_taken_over_counts_for_the_grant_from_the_takeover():
    g = Grant("g1")
    g.apply(Grant.award("g1", Baustein.CASE_MANAGEMENT, FROM, date(2025, 12, 31), Decimal(2), Decimal(56000)))
    p = Position("p1")
    p.apply(establish("p1", grant=None, baustein=Baustein.CASE_MANAGEMENT, vza=Decimal(1),
                      host_organisation_id="awo-unna", municipality="05978024",
                      funding_source=FundingSource.OTHER_PROGRAMME, valid_from=date(2023, 1, 1)))
    p.apply(p.fill("a", Decimal(1), date(2023, 1, 1), None))  # before the takeover: no grant dates apply
    with pytest.raises(RuleViolation, match="outside grant"):
        p.transfer("Einwanderung gestalten", g, date(2024, 6, 1))
    p.apply(p.transfer("Einwanderung gestalten", g, date(2025, 4, 1)))
    assert p.grant_id == "g1" and p.funded_span().start == date(2025, 4, 1)
    with pytest.raises(RuleViolation, match="already funded"):
        p.transfer("again", g, date(2025, 5, 1))


commands = st.lists(
    st.tuples(st.sampled_from(["fill", "vacate"]), st.sampled_from(["a", "b", "c"]), st.integers(0, 200),
              st.sampled_from([Decimal("0.25"), Decimal("0.5"), Decimal("0.75"), Decimal("1.0"), None])),
    max_size=25,
)


@given(commands)
def test_any_command_sequence_keeps_the_position_within_its_vza(cmds):
    p = position("1.0")
    events = []
    for kind, staff, day, share in cmds:
        on = FROM + timedelta(days=day)
        try:
            event = p.fill(staff, share or Decimal("0.5"), on, None) if kind == "fill" else \
                p.vacate(staff, share, on, QUIT)
        except RuleViolation:
            continue
        p.apply(event)
        events.append(event)
        assert peak([(o.span, o.share) for o in p.occupancies], p.span) <= p.vza
        assert all(o.span.end is None or o.span.end > o.span.start for o in p.occupancies)
    rebuilt = position("1.0")
    for event in events:
        rebuilt.apply(event)
    assert rebuilt.occupancies == p.occupancies and rebuilt.version == p.version
