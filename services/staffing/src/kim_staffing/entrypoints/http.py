"""The HTTP API: each route names its action of the runtime's policy (kim_runtime.policy): team leads and admins
plan grants and positions; the county's staff read them; a case is reached within the same scope as in the cases
service (its team and municipality, known here from the cases events). Routers per resource, shared helpers here."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from fastapi import Request, Response
from kim_runtime.auth import Principal
from kim_runtime.http import command_context, etag
from kim_runtime.policy import Owner, authorize

from ..adapters import caseload_sql

reader = authorize("staffing.read")
context = command_context("staffing.plan")


async def case_owner(request: Request, _: Principal, case_id: str) -> Owner | None:
    async with request.app.state.runtime.pool.acquire() as conn:
        row = await caseload_sql.case(conn, case_id)
    return None if row is None else Owner(frozenset({(row["municipality"], row["team_organisation_id"])}))


async def staffing(request: Request):
    return request.app.state.staffing


async def case_managers(request: Request):
    return request.app.state.case_managers


async def pool(request: Request):
    return request.app.state.runtime.pool


async def store(request: Request):
    return request.app.state.runtime.store


def plain(value):
    """JSON-ready: Decimals as strings (no float rounding of VZÄ or money), dates as ISO strings."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def with_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = etag(version)


async def history(store, stream_id: str) -> list[dict]:
    return [
        {"version": e.stream_version, "type": e.type, "time": e.time.isoformat(), "actor": e.actor,
         "correlation_id": e.correlation_id, "data": e.data}
        for e in await store.read_stream(stream_id)
    ]

