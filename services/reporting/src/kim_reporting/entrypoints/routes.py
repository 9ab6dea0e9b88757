"""The reporting service's routes, included by kim_runtime.service.service_app, and what the app installs first:
fresh lag gauges on every /metrics scrape, the dashboard's static files."""

from __future__ import annotations

import asyncio
import contextlib
import math

from fastapi import FastAPI, Request
from prometheus_client import Gauge

from ..adapters.lag import projection_lag
from . import admin, dashboard, exports_api, http, reports_api
from .deps import Service

EVENTS_BEHIND = Gauge("kim_projection_events_behind", "Events on Kafka a projection has not handled yet",
                      ["service", "projection"])
SECONDS_BEHIND = Gauge("kim_projection_seconds_behind", "Age of the last handled event while events wait (0: none)",
                       ["service", "projection"])

ROUTERS = (http.router, reports_api.router, exports_api.router, admin.router, dashboard.router)


async def refresh_lag_gauges(svc: Service) -> list[dict]:
    async with svc.runtime.pool.acquire() as conn:
        lags = [await projection_lag(conn, svc.offsets, p) for p in svc.projections]
    for item in lags:
        EVENTS_BEHIND.labels(svc.settings.service, item["projection"]).set(item["events_behind"])
        seconds = item["seconds_behind"]
        SECONDS_BEHIND.labels(svc.settings.service, item["projection"]).set(math.nan if seconds is None else seconds)
    return lags


def install(app: FastAPI) -> None:
    @app.middleware("http")
    async def _fresh_lag_on_scrape(request: Request, call_next):
        svc = getattr(request.app.state, "service", None)  # set once the runtime has started
        if request.url.path == "/metrics" and svc is not None:
            with contextlib.suppress(Exception):  # Kafka down: serve the last known figures
                await asyncio.wait_for(refresh_lag_gauges(svc), timeout=3)
        return await call_next(request)

    app.mount("/dashboard/static", dashboard.static_files(), name="dashboard-static")
