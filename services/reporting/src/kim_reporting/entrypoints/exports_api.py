"""Exports: the record of every CSV handed out (who, when, what, how many rows, content hash), for auditors."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from kim_runtime.auth import Principal
from kim_runtime.policy import authorize

from kim_reporting.adapters.exports import exports

from .deps import Service, service

router = APIRouter(prefix="/exports", tags=["exports"])


@router.get("", summary="Every recorded export, newest first (auditors and admins)")
async def list_exports(svc: Service = Depends(service), _: Principal = Depends(authorize("exports.read")),
                       limit: Annotated[int, Query(ge=1, le=1000, description="At most this many")] = 100):
    return {"exports": await exports(svc.runtime.pool, limit)}
