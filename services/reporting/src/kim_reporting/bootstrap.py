"""Wires the reporting service: projections over all four topics, the runtime, the HTTP app."""

from __future__ import annotations

import asyncio
import contextlib
import math

from fastapi import FastAPI, Request
from prometheus_client import Gauge

from kim_runtime import problems
from kim_runtime.http import create_app
from kim_runtime.service import ServiceRuntime
from kim_runtime.topics import service_topic

from .adapters.lag import EndOffsets, projection_lag
from .domain.report import FourEyesViolation
from .entrypoints import admin, dashboard, exports_api, http, reports_api
from .entrypoints.deps import Service
from .projections import projections_for
from .settings import ReportingSettings

EVENTS_BEHIND = Gauge("kim_projection_events_behind", "Events on Kafka a projection has not handled yet",
                      ["service", "projection"])
SECONDS_BEHIND = Gauge("kim_projection_seconds_behind", "Age of the last handled event while events wait (0: none)",
                       ["service", "projection"])


async def refresh_lag_gauges(svc: Service) -> list[dict]:
    async with svc.runtime.pool.acquire() as conn:
        lags = [await projection_lag(conn, svc.offsets, p) for p in svc.projections]
    for item in lags:
        EVENTS_BEHIND.labels(svc.settings.service, item["projection"]).set(item["events_behind"])
        seconds = item["seconds_behind"]
        SECONDS_BEHIND.labels(svc.settings.service, item["projection"]).set(math.nan if seconds is None else seconds)
    return lags


def build_app(settings: ReportingSettings | None = None) -> FastAPI:
    settings = settings or ReportingSettings()
    projections = projections_for(settings)
    runtime = ServiceRuntime(settings, migrations_package="kim_reporting", projections=projections)
    runtime.topic = service_topic("reporting") + settings.topic_suffix  # where our own events go
    svc = Service(settings, runtime, projections, EndOffsets(settings.kafka_bootstrap, settings.kafka_options()))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        async with runtime.lifespan(app):
            try:
                yield
            finally:
                task = svc.rebuild.get("task")
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(BaseException):
                        await task
                await svc.offsets.close()

    app = create_app("KIM Hub reporting", auth_secret=settings.auth_secret, lifespan=lifespan,
                     readiness=runtime.readiness())
    app.state.service = svc

    @app.exception_handler(FourEyesViolation)
    async def _four_eyes(request: Request, exc: FourEyesViolation):
        return problems.response(403, str(exc), instance=request.url.path, type_=problems.problem_type(
            403, "four-eyes"), title="Somebody else must approve this")

    @app.middleware("http")
    async def _fresh_lag_on_scrape(request: Request, call_next):
        if request.url.path == "/metrics" and runtime.pool is not None:
            with contextlib.suppress(Exception):  # Kafka down: serve the last known figures
                await asyncio.wait_for(refresh_lag_gauges(svc), timeout=3)
        return await call_next(request)

    for router in (http.router, reports_api.router, exports_api.router, admin.router, dashboard.router):
        app.include_router(router)
    app.mount("/dashboard/static", dashboard.static_files(), name="dashboard-static")
    return app
