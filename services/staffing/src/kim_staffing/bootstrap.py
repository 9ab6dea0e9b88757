"""Wiring: settings -> runtime (pool, store, relay, caseload consumer) -> HTTP app."""

from __future__ import annotations

import contextlib

from fastapi import FastAPI
from kim_runtime.http import create_app
from kim_runtime.service import ServiceRuntime

from .application.assignments import CaseManagers
from .application.caseload import CaseloadPolicy
from .application.handlers import Staffing
from .entrypoints import http
from .settings import StaffingSettings


def build_app(settings: StaffingSettings | None = None) -> FastAPI:
    settings = settings or StaffingSettings()
    runtime = ServiceRuntime(settings, migrations_package="kim_staffing",
                             handlers=[CaseloadPolicy(settings.caseload_limit_per_vza)])

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        async with runtime.lifespan(app):
            limit = settings.caseload_limit_per_vza
            app.state.staffing = Staffing(runtime.pool, runtime.store, limit_per_vza=limit)
            app.state.case_managers = CaseManagers(runtime.pool, runtime.store, limit_per_vza=limit)
            yield

    app = create_app("KIM Hub staffing", auth_secret=settings.auth_secret, lifespan=lifespan,
                     readiness=runtime.readiness())
    app.state.runtime = runtime
    app.state.settings = settings
    http.include(app)
    return app
