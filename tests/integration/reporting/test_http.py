"""The HTTP API on the real stack: tokens and roles, suppression in JSON and CSV, four-eyes reports, lag, metrics."""

from __future__ import annotations

import csv
import hashlib
import io
import json

import pytest

from kim_runtime.auth import Role

from ..runtime.harness import eventually
from .conftest import auth
from .history import generate

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

QUARTERS = {"period": "quarter", "from": "2024-01-01", "to": "2025-06-30"}


async def test_indicators_need_a_reader_token_and_valid_parameters(reporting):
    client = reporting.client
    assert (await client.get("/indicators")).status_code == 401
    partner = auth("partner-1", Role.PARTNER, organisation="awo-unna")
    assert (await client.get("/indicators", headers=partner)).status_code == 403
    bad = await client.get("/indicators", params={"municipality": "Unna"}, headers=auth())
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "query.municipality"
    wide = await client.get("/indicators", params={"from": "1950-01-01", "to": "2025-01-01"}, headers=auth())
    assert wide.status_code == 422 and "at most" in wide.json()["detail"]
    unknown = await client.get("/indicators", params={"indicator": "happiness"}, headers=auth())
    assert unknown.status_code == 422 and "happiness" in unknown.json()["detail"]


async def test_small_cells_are_suppressed_in_json_and_csv_and_exports_are_recorded(reporting):
    await reporting.publish(generate(seed=3, clients=60, positions=6))
    await reporting.caught_up()
    params = QUARTERS | {"by": "municipality,baustein"}
    cells = (await reporting.client.get("/indicators", params=params, headers=auth())).json()["cells"]
    suppressed = [c for c in cells if c["suppressed"]]
    assert suppressed and all(c["value"] is None for c in suppressed)
    assert all(c["value"] is not None for c in cells if not c["suppressed"])
    assert all(c["municipality"] and c["baustein"] for c in cells)

    response = await reporting.client.get("/indicators.csv", params=params, headers=auth("auditor-1", Role.AUDITOR))
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == len(cells)
    for row, cell in zip(rows, cells, strict=True):
        assert row["indicator"] == cell["indicator"] and row["period"] == cell["period"]
        assert row["suppressed"] == ("true" if cell["suppressed"] else "false")
        assert (row["value"] == "") == cell["suppressed"]
    listed = await reporting.client.get("/exports", headers=auth("auditor-1", Role.AUDITOR))
    assert listed.status_code == 200
    export, = listed.json()["exports"]
    assert (export["actor"], export["role"], export["what"], export["rows"]) == (
        "auditor-1", "auditor", "indicators", len(cells))
    assert (export["parameters"]["from"], export["parameters"]["to"]) == ("2024-01-01", "2025-06-30")
    assert export["content_sha256"] == hashlib.sha256(response.content).hexdigest()
    async with reporting.service.runtime.pool.acquire() as conn:
        stored = await conn.fetchrow("SELECT type, stream_id, metadata->'seal' AS seal FROM events "
                                     "WHERE stream_id = $1", export["stream_id"])
        assert await conn.fetchval("SELECT to_regclass('exports')") is None  # the mutable table is gone
    assert stored["type"] == "kim.reporting.CsvExported"
    # appended through the service's own store: it carries the service's writer seal (kim_runtime.anchor)
    seal = json.loads(stored["seal"]) if isinstance(stored["seal"], str) else stored["seal"]
    assert seal is not None and seal["signature"] and seal["key_id"]


@pytest.mark.parametrize(("role", "status"), [
    (Role.CASE_MANAGER, 403), (Role.TEAM_LEAD, 403), (Role.PARTNER, 403), (Role.AUDITOR, 200), (Role.ADMIN, 200)])
async def test_exports_are_listed_to_auditors_and_admins_only(reporting, role, status):
    claims = {"organisation": "awo-unna"} if role is Role.PARTNER else {}
    assert (await reporting.client.get("/exports", headers=auth("x-1", role, **claims))).status_code == status
    assert (await reporting.client.get("/exports")).status_code == 401


async def test_a_report_export_records_its_period_rows_and_content_hash(reporting):
    await reporting.publish(generate(seed=6, clients=60, positions=6))
    await reporting.caught_up()
    report = (await reporting.client.post("/reports", json={"period": "2024-Q3"}, headers=auth("lead-1"))).json()
    for _ in range(2):  # each export is an event of its own
        response = await reporting.client.get(f"/reports/{report['report_id']}/csv",
                                              headers=auth("cm-7", Role.CASE_MANAGER))
        assert response.status_code == 200
    exports = (await reporting.client.get("/exports", headers=auth("admin-1", Role.ADMIN))).json()["exports"]
    assert len(exports) == 2 and len({e["export_id"] for e in exports}) == 2
    for export in exports:
        assert (export["actor"], export["role"], export["what"]) == ("cm-7", "case_manager", "report")
        assert export["parameters"] == {"report_id": report["report_id"], "from": "2024-07-01", "to": "2024-09-30"}
        assert export["rows"] == len(list(csv.DictReader(io.StringIO(response.text))))
        assert export["content_sha256"] == hashlib.sha256(response.content).hexdigest()


async def test_a_report_is_generated_by_one_person_and_approved_by_another(reporting):
    await reporting.publish(generate(seed=5, clients=60, positions=6))
    await reporting.caught_up()
    client = reporting.client
    assert (await client.post("/reports", json={"period": "2024-Q3"},
                              headers=auth("cm-1", Role.CASE_MANAGER))).status_code == 403
    assert (await client.post("/reports", json={"period": "2024-13"}, headers=auth())).status_code == 422

    created = await client.post("/reports", json={"period": "2024-Q3"}, headers=auth("lead-1"))
    assert created.status_code == 201, created.text
    report = created.json()
    assert created.headers["ETag"] == '"1"' and report["status"] == "awaiting_approval"
    assert report["kind"] == "quartal" and report["period_from"] == "2024-07-01" and report["period_to"] == "2024-09-30"
    assert any(c["suppressed"] and c["value"] is None for c in report["cells"])
    assert any(c["indicator"] == "active_cases" and not c["dimensions"] and not c["suppressed"]
               for c in report["cells"])
    path = f"/reports/{report['report_id']}"

    own = await client.post(f"{path}/approve", headers=auth("lead-1") | {"If-Match": '"1"'})
    assert own.status_code == 403 and "four-eyes" in own.json()["detail"]
    stale = await client.post(f"{path}/approve", headers=auth("lead-2") | {"If-Match": '"0"'})
    assert stale.status_code == 412 and stale.headers["content-type"] == "application/problem+json"
    assert stale.json()["current_version"] == 1 and stale.json()["type"].endswith("stale-precondition")
    unconditional = await client.post(f"{path}/approve", headers=auth("lead-2"))
    assert unconditional.status_code == 428 and unconditional.json()["status"] == 428
    wrong = await client.post(f"{path}/approve", json={"content_hash": "0" * 64},
                              headers=auth("lead-2") | {"If-Match": '"1"'})
    assert wrong.status_code == 409 and "content" in wrong.json()["detail"]
    approved = await client.post(f"{path}/approve", json={"content_hash": report["content_hash"]},
                                 headers=auth("lead-2", Role.ADMIN) | {"If-Match": '"1"'})
    assert approved.status_code == 200, approved.text
    assert approved.json()["approved_by"] == "lead-2" and approved.headers["ETag"] == '"2"'
    again = await client.post(f"{path}/approve", headers=auth("lead-3") | {"If-Match": '"2"'})
    assert again.status_code == 409 and "already approved" in again.json()["detail"]
    assert (await client.get("/reports/no-such-report", headers=auth())).status_code == 404

    read = await client.get(path, headers=auth("auditor-1", Role.AUDITOR))
    assert read.json()["status"] == "approved" and read.json()["cells"] == report["cells"]
    exported = await client.get(f"{path}/csv", headers=auth())
    assert exported.status_code == 200 and len(exported.text.strip().splitlines()) == len(report["cells"]) + 1

    async def listed():  # both events went through the outbox to the reporting topic and back into the projection
        body = (await client.get("/reports", headers=auth())).json()["reports"]
        return [r for r in body if r["report_id"] == report["report_id"] and r["approved_by"] == "lead-2"]
    (row,) = await eventually(listed, timeout=30)
    assert row["generated_by"] == "lead-1" and row["status"] == "approved"
    async with reporting.service.runtime.pool.acquire() as conn:
        events = await conn.fetch("SELECT type, metadata FROM events WHERE stream_id = $1 ORDER BY version",
                                  report["report_id"])
    assert [e["type"] for e in events] == ["kim.reporting.ReportGenerated", "kim.reporting.ReportApproved"]
    assert [e["metadata"]["actor"] for e in events] == ["lead-1", "lead-2"]


async def test_lag_is_served_as_json_and_as_prometheus_metrics(reporting):
    history = generate(seed=9, clients=20, positions=3)
    await reporting.publish(history)
    projections = await reporting.caught_up()
    assert {p["projection"] for p in projections} == {"reporting_cases", "reporting_referrals",
                                                      "reporting_staffing", "reporting_reports"}
    assert all(p["seconds_behind"] == 0 for p in projections)
    metrics = (await reporting.client.get("/metrics")).text
    for name in ("reporting_cases", "reporting_referrals", "reporting_staffing"):
        assert f'kim_projection_events_behind{{projection="{name}",service="reporting"}} 0.0' in metrics
        assert f'kim_projection_seconds_behind{{projection="{name}",service="reporting"}} 0.0' in metrics
