"""/positions: establish, take over from another programme, fill and vacate; read with who fills them."""

from __future__ import annotations

from decimal import Decimal

from fastapi import APIRouter, Depends, Header, Query, Response
from kim_runtime.pagination import Page, paged
from kim_runtime.errors import NotFound
from kim_runtime.http import parse_if_match
from kim_schemas.codes import Baustein

from ..adapters import staffing_sql as sql
from ..application import commands as c
from .http import context, history, plain, pool, reader, staffing, store, with_etag

router = APIRouter(prefix="/positions", tags=["positions"])
IfMatch = Header(default=None, alias="If-Match", description="The ETag (stream version) you last saw; stale: 412")


def position_view(row, occupancies) -> dict:
    view = {k: row[k] for k in (
        "position_id", "baustein", "vza", "host_organisation_id", "municipality", "funding_source", "grant_id",
        "funded_from", "valid_from", "valid_to", "from_programme", "transferred_on", "filled_vza_today", "version")}
    view["vacant_vza_today"] = max(row["vza"] - row["filled_vza_today"], Decimal(0))
    view["occupancies"] = [
        {"staff_member_id": o["staff_member_id"], "vza_share": o["vza_share"], "filled_on": o["from_date"],
         "vacated_on": o["to_date"]}
        for o in occupancies if o["position_id"] == row["position_id"]
    ]
    return plain(view)


async def _views(pool_, **filters) -> list[dict]:
    async with pool_.acquire() as conn:
        rows = await sql.positions(conn, **filters)
        occupancies = await sql.occupancies(conn, [r["position_id"] for r in rows])
    return [position_view(r, occupancies) for r in rows]


async def _one(pool_, position_id: str, response: Response) -> dict:
    views = await _views(pool_, position_id=position_id)
    if not views:
        raise NotFound(f"position {position_id} not found")
    with_etag(response, views[0]["version"])
    return views[0]


@router.post("", status_code=201, summary="Establish a position (team lead, admin)")
async def establish(cmd: c.EstablishPosition, response: Response, ctx=Depends(context), svc=Depends(staffing),
                    pool_=Depends(pool)):
    position = await svc.establish_position(ctx, cmd)
    response.headers["Location"] = f"/positions/{position.position_id}"
    return await _one(pool_, position.position_id, response)


@router.post("/{position_id}/transfer", summary="Take the position over from an expiring programme")
async def transfer(position_id: str, cmd: c.TransferPosition, response: Response, if_match: str | None = IfMatch,
                   ctx=Depends(context), svc=Depends(staffing), pool_=Depends(pool)):
    await svc.transfer_position(ctx, position_id, cmd, parse_if_match(if_match))
    return await _one(pool_, position_id, response)


@router.post("/{position_id}/fill", summary="A staff member takes a share of the position")
async def fill(position_id: str, cmd: c.FillPosition, response: Response, if_match: str | None = IfMatch,
               ctx=Depends(context), svc=Depends(staffing), pool_=Depends(pool)):
    await svc.fill_position(ctx, position_id, cmd, parse_if_match(if_match))
    return await _one(pool_, position_id, response)


@router.post("/{position_id}/vacate", summary="A staff member leaves (a share of) the position")
async def vacate(position_id: str, cmd: c.VacatePosition, response: Response, if_match: str | None = IfMatch,
                 ctx=Depends(context), svc=Depends(staffing), pool_=Depends(pool)):
    await svc.vacate_position(ctx, position_id, cmd, parse_if_match(if_match))
    return await _one(pool_, position_id, response)


@router.get("", summary="Positions, filtered by municipality, Baustein or grant", dependencies=[Depends(reader)])
async def list_positions(response: Response, municipality: str | None = None, baustein: Baustein | None = None,
                         grant_id: str | None = None, pool_=Depends(pool), page: Page = Depends(paged())):
    return page.answer(await _views(pool_, municipality=municipality, baustein=baustein.value if baustein else None,
                                    grant_id=grant_id), response)


@router.get("/{position_id}", summary="One position and (history=true) its events", dependencies=[Depends(reader)])
async def get_position(position_id: str, response: Response, show_history: bool = Query(False, alias="history"),
                       pool_=Depends(pool), store_=Depends(store)):
    view = await _one(pool_, position_id, response)
    if show_history:
        view["history"] = await history(store_, position_id)
    return view
