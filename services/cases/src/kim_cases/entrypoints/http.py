"""The HTTP app: the runtime's shared app (health, readiness, metrics, error mapping) plus the cases routers."""

from __future__ import annotations

import contextlib

from fastapi import FastAPI
from kim_runtime.http import create_app
from kim_runtime.service import ServiceRuntime

from kim_cases.adapters import key_setup, keyring
from kim_cases.application import access
from kim_cases.application.services import Services
from kim_cases.entrypoints import cases_api, casework_api, clients_api, internal_api, worklist_api
from kim_cases.projections import OverviewReader
from kim_cases.worklist import Worklist, WorklistReader


def create(runtime: ServiceRuntime) -> FastAPI:
    overview = runtime.projections[0]
    worklist = next(p for p in runtime.projections if isinstance(p, Worklist))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        keys = keyring.from_settings(runtime.settings)  # no KEK outside dev: refuse before touching anything
        async with runtime.lifespan(app):
            await key_setup.prepare(runtime.pool, keys)
            app.state.services = runtime.schedule.services = Services.build(runtime.pool, runtime.store, keys)
            runtime.deadlines_ready.set()  # the deadline handlers (application.deadlines) use these services
            app.state.overview = OverviewReader(runtime.pool, overview)
            app.state.worklist = WorklistReader(runtime.pool, worklist)
            yield

    app = create_app("KIM Hub: cases", auth_secret=runtime.settings.auth_secret, lifespan=lifespan,
                     readiness=runtime.readiness())
    app.state.runtime = runtime
    access.install(app)
    for router in (clients_api.router, cases_api.router, casework_api.router, worklist_api.router,
                   internal_api.router):
        app.include_router(router)
    return app
