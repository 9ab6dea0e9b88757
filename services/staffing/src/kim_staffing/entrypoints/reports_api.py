"""/reports/funded-vs-filled: VZÄ of positions vs VZÄ filled, per municipality and Baustein, time-weighted."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date

from fastapi import APIRouter, Depends, Query
from kim_runtime.problems import refused

from ..adapters import staffing_sql as sql
from ..domain.coverage import Cell, coverage, group
from ..domain.timeline import ONE_DAY, Span
from .http import plain, pool, reader

router = APIRouter(prefix="/reports", tags=["reports"])


@router.get("/funded-vs-filled", dependencies=[Depends(reader)],
            summary="Average VZÄ in place, grant-funded and filled over [period_from, period_to], each day weighted")
async def funded_vs_filled(period_from: date = Query(description="First day"),
                           period_to: date = Query(description="Last day (inclusive)"),
                           municipality: str | None = None, baustein: str | None = None, pool_=Depends(pool)):
    if period_to < period_from:
        raise refused("query.period_to", f"period_to ({period_to}) must not be before period_from ({period_from})")
    window = Span.inclusive(period_from, period_to)
    async with pool_.acquire() as conn:
        positions, filled = await sql.coverage_rows(conn, period_from, period_to)

    def cell(r) -> Cell:
        return Cell(r["municipality"], r["baustein"])

    def wanted(r) -> bool:
        return (municipality is None or r["municipality"] == municipality) and (
            baustein is None or r["baustein"] == baustein)

    def end(last: date | None):
        return last + ONE_DAY if last else None

    rows = coverage(
        group(positions, lambda r: (cell(r), (Span.inclusive(r["valid_from"], r["valid_to"]), r["vza"]))
              if wanted(r) else None),
        group(positions, lambda r: (cell(r), (Span(r["funded_from"], end(r["valid_to"])), r["vza"]))
              if wanted(r) and r["grant_id"] else None),
        group(filled, lambda r: (cell(r), (Span(r["from_date"], _first(r["to_date"], end(r["valid_to"]))),
                                           r["vza_share"])) if wanted(r) else None),
        window,
    )
    return plain({"period_from": period_from, "period_to": period_to, "days": window.days(),
                  "rows": [asdict(r) for r in rows]})


def _first(*days):
    present = [d for d in days if d is not None]
    return min(present) if present else None
