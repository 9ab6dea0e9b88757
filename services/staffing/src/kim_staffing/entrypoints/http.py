"""The HTTP API: team leads and admins change, every token holder reads. Routers per resource, shared helpers here."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from fastapi import Depends, FastAPI, Request, Response
from kim_runtime.auth import Principal, Role, current_principal, require
from kim_runtime.http import etag

from ..adapters.events import Context

writer = require(Role.TEAM_LEAD, Role.ADMIN)
reader = current_principal


def context(request: Request, principal: Principal = Depends(writer)) -> Context:
    return Context(actor=principal.sub, correlation_id=request.headers.get("X-Correlation-ID") or str(uuid.uuid4()))


def staffing(request: Request):
    return request.app.state.staffing


def case_managers(request: Request):
    return request.app.state.case_managers


def pool(request: Request):
    return request.app.state.runtime.pool


def store(request: Request):
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


def include(app: FastAPI) -> None:
    from . import caseload_api, grants_api, positions_api, reports_api

    for module in (grants_api, positions_api, caseload_api, reports_api):
        app.include_router(module.router)
