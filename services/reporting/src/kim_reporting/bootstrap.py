"""Composition root of the reporting service: its projections over all four topics exist before any I/O; once the
runtime has its pool, `compose` builds what the routes share (kim_reporting.entrypoints.deps.Service) and hands it
to them (app.state), with what to close at stop (kim_runtime.service)."""

from __future__ import annotations

from fastapi import FastAPI
from kim_runtime.service import ServiceRuntime, Wiring, service_app
from kim_runtime.topics import service_topic

from .adapters.lag import EndOffsets
from .entrypoints import routes
from .entrypoints.deps import Service
from .projections import projections_for
from .settings import ReportingSettings


def build_app(settings: ReportingSettings | None = None, *, cases_transport=None) -> FastAPI:
    """`cases_transport`: how to reach the cases service for sealing keys (tests: an in-process app's transport)."""
    settings = settings or ReportingSettings()
    projections = projections_for(settings, cases_transport)

    async def compose(runtime: ServiceRuntime) -> Wiring:
        svc = Service(settings, runtime, projections, EndOffsets(settings.kafka_bootstrap, settings.kafka_options()))
        return Wiring(state={"service": svc}, closers=[svc.close])

    runtime = ServiceRuntime(settings, migrations_package="kim_reporting", compose=compose, projections=projections,
                             topic=service_topic("reporting") + settings.topic_suffix)  # where our own events go
    return service_app(runtime, "KIM Hub reporting", routers=routes.ROUTERS, install=routes.install)
