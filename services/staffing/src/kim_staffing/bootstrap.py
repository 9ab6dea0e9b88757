"""Composition root of the staffing service: once the runtime has its pool and store, `compose` builds the command
handlers and the caseload policy and hands them to the routes (app.state) and the consumers (kim_runtime.service)."""

from __future__ import annotations

from fastapi import FastAPI
from kim_runtime.service import ServiceRuntime, Wiring, service_app

from .application.assignments import CaseManagers
from .application.caseload import CaseloadPolicy
from .application.handlers import Staffing
from .entrypoints import routes
from .settings import StaffingSettings


def build_app(settings: StaffingSettings | None = None) -> FastAPI:
    settings = settings or StaffingSettings()
    limit = settings.caseload_limit_per_vza

    async def compose(runtime: ServiceRuntime) -> Wiring:
        return Wiring(state={"staffing": Staffing(runtime.store, limit_per_vza=limit),
                             "case_managers": CaseManagers(runtime.store, limit_per_vza=limit)},
                      projections=[CaseloadPolicy(runtime.store, limit)])

    runtime = ServiceRuntime(settings, migrations_package="kim_staffing", compose=compose)
    return service_app(runtime, "KIM Hub staffing", routers=routes.ROUTERS, install=routes.install)
