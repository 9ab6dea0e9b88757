"""The list of reports from the reporting topic itself: who generated each, who approved it."""

from __future__ import annotations

from datetime import date, datetime

from kim_runtime.envelope import Envelope
from kim_schemas import reporting as ev

from .base import Batch, BatchProjection, Table

REPORTS = Table("reports", (
    ("report_id", "text"), ("kind", "text"), ("period_from", "date"), ("period_to", "date"),
    ("municipality", "text"), ("baustein", "text"), ("content_hash", "text"), ("cells", "int"),
    ("generated_by", "text"), ("generated_at", "timestamptz"), ("approved_by", "text"), ("approved_at", "timestamptz"),
), key=("report_id",))


def _generated(b: Batch, e: Envelope) -> None:
    d = e.data
    b.merge("reports", (d["report_id"],), kind=d["kind"], period_from=date.fromisoformat(d["period_from"]),
            period_to=date.fromisoformat(d["period_to"]), municipality=d.get("municipality"),
            baustein=d.get("baustein"), content_hash=d["content_hash"], cells=len(d["cells"]),
            generated_by=d["generated_by"], generated_at=datetime.fromisoformat(d["generated_at"]))


def _approved(b: Batch, e: Envelope) -> None:
    d = e.data
    b.merge("reports", (d["report_id"],), approved_by=d["approved_by"],
            approved_at=datetime.fromisoformat(d["approved_at"]))


class ReportsProjection(BatchProjection):
    name = "reporting_reports"
    tables = (REPORTS,)
    collectors = {ev.ReportGenerated: _generated, ev.ReportApproved: _approved}
