"""Exports: the record of every CSV handed out (who, when, what, how many rows, content hash), for auditors."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from kim_runtime.pagination import Page, paged
from kim_runtime.auth import Principal
from kim_runtime.policy import authorize

from kim_reporting.adapters.exports import exports

from .deps import Service, service

router = APIRouter(prefix="/exports", tags=["exports"])


@router.get("", summary="Every recorded export, newest first (auditors and admins)")
async def list_exports(response: Response, svc: Service = Depends(service),
                       _: Principal = Depends(authorize("exports.read")), page: Page = Depends(paged())):
    return {"exports": page.trim(await exports(svc.runtime.pool, page.fetch, page.offset), response)}
