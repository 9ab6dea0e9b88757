"""Command handlers for reports: generate one for a period (figures from the projections), approve it (four eyes)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg

from kim_runtime.auth import Principal
from kim_runtime.errors import NotFound, check_expected
from kim_runtime.store import EventStore
from kim_reporting.adapters.events import envelope
from kim_reporting.domain import report as domain
from kim_reporting.domain.periods import parse_period

from .indicators import Scope, compute


async def load(store: EventStore, report_id: str) -> domain.Report:
    history = await store.read_stream(report_id)
    if not history:
        raise NotFound(f"report {report_id} does not exist; list reports with GET /reports")
    return domain.Report.from_history(report_id, [(e.type, e.data) for e in history])


async def generate(store: EventStore, pool: asyncpg.Pool, *, period: str, municipality: str | None,
                   baustein: str | None, principal: Principal, correlation_id: str | None) -> domain.Report:
    the_period = parse_period(period)
    async with pool.acquire() as conn:
        cells = await compute(conn, [the_period], Scope(municipality, baustein, every_breakdown=True))
    report_id = str(uuid.uuid4())
    event = domain.generate(report_id, the_period, municipality, baustein, cells, by=principal.sub,
                            at=datetime.now(UTC))
    await store.append(report_id, [envelope(event, principal, correlation_id=correlation_id,
                                            causation_id=str(uuid.uuid4()), municipality=municipality)], 0)
    return domain.Report(report_id, version=1, generated=event)


async def approve(store: EventStore, *, report_id: str, principal: Principal, expected_version: int | None,
                  reviewed_hash: str | None, correlation_id: str | None) -> domain.Report:
    report = await load(store, report_id)
    check_expected(report_id, expected_version, report.version)
    event = report.approve(principal.sub, datetime.now(UTC), reviewed_hash)
    await store.append(report_id, [envelope(event, principal, correlation_id=correlation_id,
                                            causation_id=str(uuid.uuid4()),
                                            municipality=report.generated.municipality)], report.version)
    report.approved = event
    report.version += 1
    return report
