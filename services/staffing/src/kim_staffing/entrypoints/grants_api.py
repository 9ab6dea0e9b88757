"""/grants: award a grant; read grants with the VZÄ their positions take."""

from __future__ import annotations

from decimal import Decimal

from fastapi import APIRouter, Depends, Query, Response
from kim_runtime.pagination import Page, paged
from kim_runtime.errors import NotFound

from ..adapters import staffing_sql as sql
from ..application.commands import AwardGrant
from .http import context, history, plain, pool, reader, staffing, store, with_etag

router = APIRouter(prefix="/grants", tags=["grants"])


def grant_view(row) -> dict:
    vza, rate = row["vza"], row["rate_per_vza"]
    return plain({
        "grant_id": row["grant_id"], "baustein": row["baustein"], "period_from": row["period_from"],
        "period_to": row["period_to"], "vza": vza, "rate_per_vza": rate,
        "annual_amount": (vza * rate).quantize(Decimal("0.01")), "reference": row["reference"],
        "allocated_vza_today": row["allocated_vza_today"],
        "free_vza_today": max(vza - row["allocated_vza_today"], Decimal(0)), "version": row["version"],
    })


async def _one(pool_, grant_id: str) -> dict:
    async with pool_.acquire() as conn:
        rows = await sql.grants(conn, grant_id)
    if not rows:
        raise NotFound(f"grant {grant_id} not found")
    return grant_view(rows[0])


@router.post("", status_code=201, summary="Award a grant (team lead, admin)")
async def award(cmd: AwardGrant, response: Response, ctx=Depends(context), svc=Depends(staffing),
                pool_=Depends(pool)):
    grant = await svc.award_grant(ctx, cmd)
    with_etag(response, grant.version)
    response.headers["Location"] = f"/grants/{grant.grant_id}"
    return await _one(pool_, grant.grant_id)


@router.get("", summary="All grants", dependencies=[Depends(reader)])
async def list_grants(response: Response, pool_=Depends(pool), page: Page = Depends(paged())):
    async with pool_.acquire() as conn:
        return page.answer([grant_view(r) for r in await sql.grants(conn)], response)


@router.get("/{grant_id}", summary="One grant, its positions and (history=true) its events",
            dependencies=[Depends(reader)])
async def get_grant(grant_id: str, response: Response, show_history: bool = Query(False, alias="history"), pool_=Depends(pool),
                    store_=Depends(store)):
    view = await _one(pool_, grant_id)
    async with pool_.acquire() as conn:
        view["positions"] = [r["position_id"] for r in await sql.positions(conn, grant_id=grant_id)]
    if show_history:
        view["history"] = await history(store_, grant_id)
    with_etag(response, view["version"])
    return view
