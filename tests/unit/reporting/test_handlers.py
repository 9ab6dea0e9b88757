"""Service-layer tests of the reporting command handlers on the in-memory store (kim_runtime.memory): generate a
report, approve it under the four-eyes rule. `generate` reads its figures from the projections in PostgreSQL
(`indicators.compute`): here that query is replaced by fixed cells, the rest of the handler runs as it is."""

from __future__ import annotations

import pytest
from kim_runtime.auth import Principal, Role
from kim_runtime.commands import CommandContext
from kim_runtime.errors import ConcurrencyConflict, NotFound, RuleViolation
from kim_runtime.memory import InMemoryEventStore

from kim_reporting.application import reports
from kim_reporting.domain.report import FourEyesViolation
from kim_reporting.domain.suppression import Cell

AUTHOR = Principal(sub="lead-1", role=Role.TEAM_LEAD, municipality="05978024")
REVIEWER = Principal(sub="lead-2", role=Role.TEAM_LEAD, municipality="05978024")


def ctx(who: Principal, correlation_id: str | None = None) -> CommandContext:
    """As the route builds it: the runtime's context of the request, in the caller's municipality."""
    headers = {"x-correlation-id": correlation_id} if correlation_id else {}
    return CommandContext.of_request(who, headers).in_municipality(who.municipality)


CELLS = [Cell("intakes", "2025-Q1", "05978024", None, {}, 12, 12), Cell("intakes", "2025-Q1", "05978020", None,
                                                                          {}, 3, 3)]


@pytest.fixture
def store():
    return InMemoryEventStore("kim.reporting")


@pytest.fixture
def figures(monkeypatch):
    asked = []

    async def compute(conn, periods, scope, names=None):
        asked.append((periods, scope))
        return CELLS

    monkeypatch.setattr(reports, "compute", compute)
    return asked


async def generate(store, by=AUTHOR, period="2025-Q1"):
    return await reports.generate(store, store.pool, ctx(by, "corr-1"), period=period, municipality="05978024",
                                  baustein=None)


async def test_generate_appends_the_report_with_its_suppressed_cells(store, figures):
    report = await generate(store)
    [stored] = await store.read_stream(report.report_id)
    assert stored.type == "kim.reporting.ReportGenerated" and stored.stream_version == 1
    assert (stored.actor, stored.correlation_id, stored.municipality) == ("lead-1", "corr-1", "05978024")
    cells = {c["dimensions"]["municipality"]: c for c in stored.data["cells"]}
    assert cells["05978020"]["suppressed"] and cells["05978020"]["value"] is None
    assert not cells["05978024"]["suppressed"]
    assert figures[0][1].municipality == "05978024" and figures[0][1].every_breakdown
    assert len(store.outbox) == 1


async def test_a_month_is_not_a_report_period_and_nothing_is_appended(store, figures):
    with pytest.raises(RuleViolation, match="quarter"):
        await generate(store, period="2025-03")
    assert store.outbox == []


async def test_another_person_approves_and_the_approval_names_the_reviewed_content(store, figures):
    report = await generate(store)
    approved = await reports.approve(store, ctx(REVIEWER, "corr-2"), report_id=report.report_id, expected_version=1,
                                     reviewed_hash=report.generated.content_hash)
    assert approved.status == "approved" and approved.version == 2
    last = (await store.read_stream(report.report_id))[-1]
    assert last.type == "kim.reporting.ReportApproved" and last.data["approved_by"] == "lead-2"
    assert last.data["content_hash"] == report.generated.content_hash and last.municipality == "05978024"


async def test_the_author_may_not_approve_their_own_report(store, figures):
    report = await generate(store)
    with pytest.raises(FourEyesViolation):
        await reports.approve(store, ctx(AUTHOR), report_id=report.report_id, expected_version=None,
                              reviewed_hash=None)
    assert await store.stream_version(report.report_id) == 1


async def test_an_approval_at_a_stale_version_or_of_other_content_is_refused(store, figures):
    report = await generate(store)
    with pytest.raises(ConcurrencyConflict):
        await reports.approve(store, ctx(REVIEWER), report_id=report.report_id, expected_version=0,
                              reviewed_hash=None)
    with pytest.raises(RuleViolation, match="content_hash"):
        await reports.approve(store, ctx(REVIEWER), report_id=report.report_id, expected_version=1,
                              reviewed_hash="0" * 64)
    assert await store.stream_version(report.report_id) == 1


async def test_a_report_is_approved_once(store, figures):
    report = await generate(store)
    await reports.approve(store, ctx(REVIEWER), report_id=report.report_id, expected_version=None,
                          reviewed_hash=None)
    with pytest.raises(RuleViolation, match="already approved"):
        await reports.approve(store, ctx(Principal(sub="admin", role=Role.ADMIN)), report_id=report.report_id,
                              expected_version=None, reviewed_hash=None)


async def test_an_unknown_report_is_not_found(store):
    with pytest.raises(NotFound):
        await reports.approve(store, ctx(REVIEWER), report_id="nope", expected_version=None,
                              reviewed_hash=None)
