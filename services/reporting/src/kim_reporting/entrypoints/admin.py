"""Rebuild the projections from offset zero while the live ones keep serving; readers see no gap."""

from __future__ import annotations

import asyncio
import logging
import time

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import JSONResponse

from kim_runtime.auth import Principal
from kim_runtime.policy import authorize
from kim_runtime.problems import refused
from kim_runtime.rebuild import rebuild_from_kafka

from .deps import Service, service

log = logging.getLogger(__name__)
router = APIRouter(prefix="/admin", tags=["admin"])


async def rebuild(svc: Service, names: list[str]) -> None:
    state = svc.rebuild
    for projection in [p for p in svc.projections if p.name in names]:
        state.update(current=projection.name, done=0, total=0)

        def progress(done: int, total: int) -> None:
            state.update(done=done, total=total)

        result = await rebuild_from_kafka(projection, svc.runtime.pool, svc.settings.kafka_bootstrap,
                                          kafka_options=svc.settings.kafka_options(), progress=progress)
        state["results"].append({"projection": result.projection, "events": result.events_applied,
                                 "seconds": round(result.seconds, 3), "events_per_second": round(result.rate)})
        log.info("rebuilt %s: %d events in %.1fs", result.projection, result.events_applied, result.seconds)


@router.post("/rebuild", status_code=202, summary="Rebuild projections from Kafka offset zero, then swap them in")
async def start_rebuild(projection: str | None = None, svc: Service = Depends(service),
                        _: Principal = Depends(authorize("projections.rebuild"))):
    known = [p.name for p in svc.projections]
    if projection is not None and projection not in known:
        raise refused("query.projection", f"unknown projection {projection!r}; one of: {', '.join(known)}")
    task = svc.rebuild.get("task")
    if task is not None and not task.done():
        raise HTTPException(409, detail="a rebuild is running; follow it with GET /admin/rebuild")
    names = [projection] if projection else known
    svc.rebuild.clear()
    svc.rebuild.update(status="running", projections=names, results=[], started=time.time(), error=None)

    async def run() -> None:
        try:
            await rebuild(svc, names)
            svc.rebuild["status"] = "done"
        except Exception as exc:  # reported on GET /admin/rebuild; the live projections are untouched
            log.exception("rebuild failed")
            svc.rebuild.update(status="failed", error=f"{type(exc).__name__}: {exc}")

    svc.rebuild["task"] = asyncio.create_task(run(), name="rebuild")
    return JSONResponse(_public(svc.rebuild), status_code=202)


@router.get("/rebuild", summary="Progress of the last rebuild")
async def rebuild_status(svc: Service = Depends(service), _: Principal = Depends(authorize("projections.status"))):
    return _public(svc.rebuild) if svc.rebuild else {"status": "never"}


def _public(state: dict) -> dict:
    return {k: v for k, v in state.items() if k != "task"}
