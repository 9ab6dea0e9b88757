"""Reports: generate one for a period, read it, export it, approve it (by somebody else)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response
from kim_runtime.pagination import Page, paged
from kim_runtime.http import CsvResponse
from pydantic import BaseModel, Field

from kim_reporting.adapters.exports import record_export, to_csv
from kim_reporting.adapters.reading import snapshot
from kim_reporting.application import reports
from kim_reporting.domain.report import Report
from kim_runtime.auth import Principal
from kim_runtime.commands import CommandContext
from kim_runtime.http import etag, if_match
from kim_runtime.policy import authorize
from kim_runtime.types import Municipality, ReportPeriod

from .deps import READER, Service, service

router = APIRouter(prefix="/reports", tags=["reports"])
Correlation = Annotated[str | None, Header(alias="X-Correlation-ID")]  # documented; read by CommandContext


def context(request: Request, who: Principal) -> CommandContext:
    """The runtime's command context of the request; a report's events carry the caller's municipality unless the
    report names one."""
    return CommandContext.of_request(who, request.headers).in_municipality(who.municipality)


class GenerateReport(BaseModel):
    period: ReportPeriod = Field(description="2025-Q1, 2025-H2 or 2025 (years 2000-2099)", examples=["2025-Q1"])
    municipality: Municipality | None = Field(default=None, description="AGS; none = whole county")
    baustein: str | None = Field(default=None, pattern=r"^[123]$", description="Baustein; none = all")


class ApproveReport(BaseModel):
    content_hash: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$",
                                     description="Hash of the content you reviewed; refused if the report differs")


def _view(report: Report, *, cells: bool = True) -> dict:
    g = report.generated
    body = {"report_id": report.report_id, "version": report.version, "status": report.status,
            "kind": g.kind.value, "period_from": g.period_from, "period_to": g.period_to,
            "municipality": g.municipality, "baustein": g.baustein, "content_hash": g.content_hash,
            "generated_by": g.generated_by, "generated_at": g.generated_at,
            "approved_by": report.approved.approved_by if report.approved else None,
            "approved_at": report.approved.approved_at if report.approved else None}
    if cells:
        body["cells"] = [c.model_dump(mode="json") for c in g.cells]
    return body


@router.post("", status_code=201, summary="Generate a report for a quarter, half-year or year")
async def generate(body: GenerateReport, request: Request, response: Response, svc: Service = Depends(service),
                   who: Principal = Depends(authorize("report.generate")), correlation_id: Correlation = None):
    report = await reports.generate(svc.runtime.store, svc.runtime.pool, context(request, who), period=body.period,
                                    municipality=body.municipality, baustein=body.baustein)
    response.headers["ETag"] = etag(report.version)
    response.headers["Location"] = f"/reports/{report.report_id}"
    return _view(report)


@router.get("", summary="All reports, newest first")
async def list_reports(response: Response, svc: Service = Depends(service), _: Principal = Depends(READER),
                       page: Page = Depends(paged())):
    async with svc.runtime.pool.acquire() as conn, snapshot(conn, ("reporting_reports",)):
        rows = await conn.fetch("SELECT * FROM reporting_reports.reports ORDER BY generated_at DESC NULLS LAST, "
                                f"report_id LIMIT {page.fetch} OFFSET {page.offset}")
    return {"reports": page.trim([dict(r) | {"status": "approved" if r["approved_by"] else "awaiting_approval"}
                                  for r in rows], response)}


@router.get("/{report_id}", summary="One report with its cells")
async def read(report_id: str, response: Response, svc: Service = Depends(service),
               _: Principal = Depends(READER)):
    report = await reports.load(svc.runtime.store, report_id)
    response.headers["ETag"] = etag(report.version)
    return _view(report)


@router.get("/{report_id}/csv", summary="One report as CSV (the export is recorded)",
            response_class=CsvResponse)
async def read_csv(report_id: str, svc: Service = Depends(service), who: Principal = Depends(READER)):
    report = await reports.load(svc.runtime.store, report_id)
    label = f"{report.generated.period_from}..{report.generated.period_to}"
    rows = []
    for c in report.generated.cells:
        dims = dict(c.dimensions)
        rows.append({"period": label, "indicator": c.indicator, "municipality": dims.pop("municipality", None),
                     "baustein": dims.pop("baustein", None), "dimensions": dims,
                     "value": None if c.value is None else str(c.value), "suppressed": c.suppressed})
    content = to_csv(rows)
    await record_export(svc.runtime.store, who, "report", {"report_id": report_id, "from": str(
        report.generated.period_from), "to": str(report.generated.period_to)}, len(rows), content)
    return CsvResponse(content, headers={"Content-Disposition": f'attachment; filename="kim-report-{report_id}.csv"'})


@router.post("/{report_id}/approve", summary="Approve a report generated by somebody else (four eyes); send "
                                            "If-Match with the ETag of the version you reviewed")
async def approve(report_id: str, request: Request, response: Response, body: ApproveReport | None = None,
                  svc: Service = Depends(service), who: Principal = Depends(authorize("report.approve")),
                  expected: int = Depends(if_match(required=True, what="the report")),
                  correlation_id: Correlation = None):
    report = await reports.approve(svc.runtime.store, context(request, who), report_id=report_id,
                                   expected_version=expected, reviewed_hash=body.content_hash if body else None)
    response.headers["ETag"] = etag(report.version)
    return _view(report, cells=False)
