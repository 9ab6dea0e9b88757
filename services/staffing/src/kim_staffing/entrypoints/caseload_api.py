"""Case managers of cases and caseloads: per staff member, and per filled VZÄ per municipality."""

from __future__ import annotations

from decimal import Decimal

from fastapi import APIRouter, Depends, Header, Query, Response
from kim_runtime.pagination import Page, paged
from kim_runtime.errors import NotFound
from kim_runtime.http import command_context, parse_if_match
from kim_runtime.policy import authorize
from kim_schemas.codes import Baustein

from ..adapters import caseload_sql, staffing_sql
from ..application.commands import AssignCaseManager
from ..domain.caseload import per_vza
from .http import case_managers, history, plain, pool, reader, store, with_etag

router = APIRouter(tags=["caseload"])


def caseload_view(row) -> dict:
    return plain({
        "staff_member_id": row["staff_member_id"], "active_cases": row["active_cases"],
        "vza_share": row["vza_share"], "vza_share_on": row["vza_share_on"], "limit": row["case_limit"],
        "over_limit": row["over_limit"],
        "cases_per_vza": per_vza(row["active_cases"], row["vza_share"]),
    })


@router.put("/cases/{case_id}/case-manager", summary="Make a staff member the case manager of a case")
async def assign(case_id: str, cmd: AssignCaseManager, response: Response,
                 if_match: str | None = Header(default=None, alias="If-Match"),
                 ctx=Depends(command_context("staffing.case.assign")),
                 svc=Depends(case_managers), pool_=Depends(pool)):
    assignment = await svc.assign(ctx, case_id, cmd, parse_if_match(if_match))
    with_etag(response, assignment.version)
    return await _case(pool_, case_id, assignment.version)


@router.get("/cases/{case_id}", summary="A case as staffing sees it: manager and status",
            dependencies=[Depends(authorize("staffing.case.read"))])
async def get_case(case_id: str, response: Response, show_history: bool = Query(False, alias="history"),
                   pool_=Depends(pool), store_=Depends(store)):
    events = await history(store_, case_id)
    view = await _case(pool_, case_id, len(events))
    if show_history:
        view["history"] = events
    with_etag(response, len(events))
    return view


async def _case(pool_, case_id: str, version: int) -> dict:
    async with pool_.acquire() as conn:
        row = await caseload_sql.case(conn, case_id)
    if row is None:
        raise NotFound(f"case {case_id} is not known to staffing (yet)")
    return plain({"case_id": case_id, "staff_member_id": row["staff_member_id"], "status": row["status"],
                  "municipality": row["municipality"], "baustein": row["baustein"], "version": version})


@router.get("/caseloads", summary="Active cases per case manager", dependencies=[Depends(reader)])
async def caseloads(response: Response, over_limit: bool | None = None, pool_=Depends(pool),
                    page: Page = Depends(paged())):
    async with pool_.acquire() as conn:
        rows = await caseload_sql.caseloads(conn)
    return page.answer([caseload_view(r) for r in rows if over_limit is None or r["over_limit"] == over_limit],
                       response)


@router.get("/caseloads/per-vza", summary="Active cases per filled case-management VZÄ, per municipality (today)",
            dependencies=[Depends(reader)])
async def caseload_per_vza(pool_=Depends(pool)):
    async with pool_.acquire() as conn:
        active = await caseload_sql.active_by_municipality(conn)
        positions = await staffing_sql.positions(conn, baustein=Baustein.CASE_MANAGEMENT.value)
    filled: dict[str, Decimal] = {}
    for p in positions:
        filled[p["municipality"]] = filled.get(p["municipality"], Decimal(0)) + p["filled_vza_today"]
    rows = [{"municipality": m, "active_cases": active.get(m, 0), "filled_vza": filled.get(m, Decimal(0)),
             "cases_per_vza": per_vza(active.get(m, 0), filled.get(m, Decimal(0)))}
            for m in sorted({*active, *filled} - {None})]
    total_active, total_vza = sum(active.values()), sum(filled.values(), Decimal(0))
    return plain({"municipalities": rows, "total": {"active_cases": total_active, "filled_vza": total_vza,
                                                    "cases_per_vza": per_vza(total_active, total_vza)}})


@router.get("/caseloads/{staff_member_id}", summary="One case manager's caseload", dependencies=[Depends(reader)])
async def caseload(staff_member_id: str, pool_=Depends(pool)):
    async with pool_.acquire() as conn:
        rows = await caseload_sql.caseloads(conn, staff_member_id)
    if not rows:
        raise NotFound(f"staff member {staff_member_id} has no caseload recorded")
    return caseload_view(rows[0])
