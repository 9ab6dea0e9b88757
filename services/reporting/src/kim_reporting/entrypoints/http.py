"""HTTP API of the indicators: JSON, CSV export, projection lag, catalogue."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from kim_runtime.problems import refused
from kim_runtime.http import CsvResponse

from kim_reporting.adapters.exports import record_export, to_csv
from kim_reporting.adapters.lag import projection_lag
from kim_reporting.application.indicators import BREAKDOWNS, Scope, compute
from kim_reporting.domain.catalogue import BY_NAME, INDICATORS
from kim_reporting.domain.periods import PeriodKind, period_of, periods_between
from kim_reporting.domain.suppression import MIN_PERSONS
from kim_runtime.auth import Principal

from .deps import READER, Service, service

router = APIRouter(tags=["indicators"])

Ags = Annotated[str | None, Query(pattern=r"^[0-9]{8}$", description="Municipality (AGS); omit for all")]
Baustein = Annotated[str | None, Query(pattern=r"^[123]$", description="Baustein 1, 2 or 3; omit for all")]


def _periods(kind: PeriodKind, first: date | None, last: date | None, limit: int):
    last = last or date.today()
    first = first or period_of(kind, last).start.replace(year=period_of(kind, last).start.year - 1)
    if last < first:
        raise refused("query.to", f"'to' ({last}) must not be before 'from' ({first})")
    periods = periods_between(kind, first, last)
    if len(periods) > limit:
        raise refused("query.from", f"{len(periods)} periods asked for; at most {limit}: narrow 'from'/'to'")
    return periods


async def _cells(svc: Service, period: PeriodKind, first, last, municipality, baustein, by, indicator):
    periods = _periods(period, first, last, svc.settings.max_periods)
    breakdown = frozenset(b.strip() for b in by.split(",") if b.strip()) if by else frozenset()
    unknown = breakdown - set(BREAKDOWNS) | {i for i in indicator or () if i not in BY_NAME}
    if unknown:
        raise refused("query.by" if breakdown - set(BREAKDOWNS) else "query.indicator", f"unknown breakdown or indicator: {', '.join(sorted(unknown))}; "
                                    f"breakdowns: {', '.join(BREAKDOWNS)}; indicators: GET /catalogue")
    async with svc.runtime.pool.acquire() as conn:
        cells = await compute(conn, periods, Scope(municipality, baustein, breakdown), indicator)
    return periods, [c.public() for c in cells]


@router.get("/indicators", summary="Indicators per period; cells under 5 persons are suppressed")
async def indicators(
    svc: Service = Depends(service), _: Principal = Depends(READER),
    period: PeriodKind = PeriodKind.MONTH, from_: Annotated[date | None, Query(alias="from")] = None,
    to: date | None = None, municipality: Ags = None, baustein: Baustein = None,
    by: Annotated[str | None, Query(description="Break down by: municipality, baustein (comma-separated)")] = None,
    indicator: Annotated[list[str] | None, Query(description="Only these indicators")] = None,
):
    periods, cells = await _cells(svc, period, from_, to, municipality, baustein, by, indicator)
    return {
        "period_kind": period.value, "min_persons": MIN_PERSONS,
        "periods": [{"period": p.label, "from": p.start, "to": p.end} for p in periods],
        "cells": cells,
    }


@router.get("/indicators.csv", summary="The same cells as CSV (the export is recorded)",
            response_class=CsvResponse)
async def indicators_csv(
    svc: Service = Depends(service), who: Principal = Depends(READER),
    period: PeriodKind = PeriodKind.MONTH, from_: Annotated[date | None, Query(alias="from")] = None,
    to: date | None = None, municipality: Ags = None, baustein: Baustein = None, by: str | None = None,
    indicator: Annotated[list[str] | None, Query()] = None,
):
    periods, cells = await _cells(svc, period, from_, to, municipality, baustein, by, indicator)
    params = {"period": period.value, "from": str(periods[0].start), "to": str(periods[-1].end),
              "municipality": municipality, "baustein": baustein, "by": by, "indicator": indicator}
    content = to_csv(cells)
    await record_export(svc.runtime.store, who, "indicators", params, len(cells), content)
    return CsvResponse(content, headers={"Content-Disposition": 'attachment; filename="kim-indicators.csv"'})


@router.get("/catalogue", summary="The indicators and what they mean")
async def catalogue(_: Principal = Depends(READER)):
    return {"min_persons": MIN_PERSONS, "indicators": [
        {"name": i.name, "title": i.title, "aggregate": i.aggregate.value, "dimension": i.dimension,
         "person_based": i.person_based, "by_municipality": i.by_municipality} for i in INDICATORS]}


@router.get("/lag", summary="How far behind each projection is")
async def lag(svc: Service = Depends(service), _: Principal = Depends(READER)):
    async with svc.runtime.pool.acquire() as conn:
        return {"projections": [await projection_lag(conn, svc.offsets, p) for p in svc.projections]}
