"""The small-number rule and the four-eyes report aggregate (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kim_reporting.domain.periods import parse_period
from kim_reporting.domain.report import FourEyesViolation, Report, content_hash, generate, report_cells
from kim_reporting.domain.residence import is_improvement
from kim_reporting.domain.suppression import MIN_PERSONS, Cell
from kim_runtime.errors import NotFound, RuleViolation

NOW = datetime(2025, 7, 1, 9, tzinfo=UTC)


def cell(persons, value=3, **kw) -> Cell:
    return Cell(kw.pop("indicator", "intakes"), "2025-Q1", None, None, kw.pop("dimensions", {}), value, persons)


@pytest.mark.parametrize(("persons", "suppressed"), [(0, True), (1, True), (MIN_PERSONS - 1, True),
                                                     (MIN_PERSONS, False), (40, False), (None, False)])
def test_a_cell_resting_on_fewer_than_five_persons_is_suppressed(persons, suppressed):
    public = cell(persons, value=7).public()
    assert public["suppressed"] is suppressed
    assert public["value"] == (None if suppressed else 7)
    assert "persons" not in public


def test_report_cells_carry_no_value_when_suppressed_and_name_their_breakdown():
    cells = [Cell("active_cases", "2025-Q1", "05978024", "2", {}, 12, 12),
             Cell("closures", "2025-Q1", None, None, {"reason": "wegzug"}, 2, 2)]
    first, second = report_cells(cells)
    assert first.dimensions == {"municipality": "05978024", "baustein": "2"} and str(first.value) == "12"
    assert second.suppressed and second.value is None and second.dimensions == {"reason": "wegzug"}


def test_the_content_hash_changes_with_any_figure():
    period = parse_period("2025-Q1")
    a = report_cells([cell(10, 10)])
    b = report_cells([cell(10, 11)])
    assert content_hash(period, None, None, a) == content_hash(period, None, None, report_cells([cell(10, 10)]))
    assert content_hash(period, None, None, a) != content_hash(period, None, None, b)


def generated(by="lead-1"):
    return generate("r-1", parse_period("2025-Q1"), None, None, [cell(10)], by=by, at=NOW)


def test_reports_cover_quarters_half_years_and_years_not_months():
    assert generated().kind.value == "quartal"
    with pytest.raises(RuleViolation, match="quarter, half-year or year"):
        generate("r-2", parse_period("2025-03"), None, None, [], by="lead-1", at=NOW)


def test_the_generator_may_not_approve_their_own_report():
    report = Report.from_events("r-1", [generated()])
    with pytest.raises(FourEyesViolation, match="four-eyes"):
        report.approve("lead-1", NOW)
    approval = report.approve("lead-2", NOW, reviewed_hash=report.generated.content_hash)
    assert approval.approved_by == "lead-2" and approval.content_hash == report.generated.content_hash


def test_an_approved_report_cannot_be_approved_again_and_a_changed_one_not_at_all():
    g = generated()
    report = Report.from_events("r-1", [g])
    with pytest.raises(RuleViolation, match="not this report's content"):
        report.approve("lead-2", NOW, reviewed_hash="0" * 64)
    a = report.approve("lead-2", NOW)
    again = Report.from_events("r-1", [g, a])
    assert again.version == 2 and again.status == "approved"
    with pytest.raises(RuleViolation, match="already approved by lead-2"):
        again.approve("lead-3", NOW)
    with pytest.raises(NotFound):
        Report("r-9").approve("lead-2", NOW)


@pytest.mark.parametrize(("before", "after", "better"), [
    ("duldung_60a", "ae_104c", True), ("ae_104c", "ae_25b", True), ("ae_25a", "niederlassungserlaubnis", True),
    ("niederlassungserlaubnis", "eingebuergert", True), ("ae_25a", "ae_25b", False), ("ae_104c", "duldung_60a", False),
    (None, "ae_25a", False),
])
def test_improvements_are_steps_up_the_ladder(before, after, better):
    assert is_improvement(before, after) is better
