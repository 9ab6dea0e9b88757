"""Command handlers for reports: generate one for a period (figures from the projections), approve it (four eyes)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg

from kim_runtime.commands import CommandContext, Repository
from kim_runtime.errors import check_expected
from kim_runtime.store import EventStore
from kim_reporting.adapters.events import SOURCE
from kim_reporting.domain import report as domain
from kim_reporting.domain.periods import parse_period

from .indicators import Scope, compute


def reports(store: EventStore) -> Repository[domain.Report]:
    return Repository(store, domain.Report, source=SOURCE,
                      missing=lambda report_id: f"report {report_id} does not exist; list reports with GET /reports")


async def load(store: EventStore, report_id: str) -> domain.Report:
    return await reports(store).load(report_id)


async def generate(store: EventStore, pool: asyncpg.Pool, ctx: CommandContext, *, period: str,
                   municipality: str | None, baustein: str | None) -> domain.Report:
    the_period = parse_period(period)
    async with pool.acquire() as conn:
        cells = await compute(conn, [the_period], Scope(municipality, baustein, every_breakdown=True))
    report = domain.Report(str(uuid.uuid4()))
    event = domain.generate(report.report_id, the_period, municipality, baustein, cells, by=ctx.actor,
                            at=datetime.now(UTC))
    await reports(store).append(report.report_id, 0, report.emit(event), ctx, municipality=municipality)
    return report


async def approve(store: EventStore, ctx: CommandContext, *, report_id: str, expected_version: int | None,
                  reviewed_hash: str | None) -> domain.Report:
    report = await load(store, report_id)
    check_expected(report_id, expected_version, report.version)
    seen = report.version
    event = report.approve(ctx.actor, datetime.now(UTC), reviewed_hash)
    await reports(store).append(report_id, seen, report.emit(event), ctx, municipality=report.generated.municipality)
    return report
