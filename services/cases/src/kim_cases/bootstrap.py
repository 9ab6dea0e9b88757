"""Composition root of the cases service: what exists before any I/O (projections, the deadline schedule), then,
once the runtime has its pool and store, `compose` builds the key store and the command handlers and hands them to
the routes (app.state) and the scheduler (kim_runtime.service)."""

from __future__ import annotations

from fastapi import FastAPI
from kim_runtime.service import ServiceRuntime, Wiring, service_app

from kim_cases.adapters import key_setup, keyring
from kim_cases.application.deadlines import CaseDeadlines
from kim_cases.application.services import Services
from kim_cases.entrypoints import routes
from kim_cases.projections import CaseOverview, CaseReferrals, OverviewReader
from kim_cases.settings import CasesSettings
from kim_cases.worklist import Worklist, WorklistReader


def build_app(settings: CasesSettings | None = None) -> FastAPI:
    settings = settings or CasesSettings()
    overview, worklist, deadlines = CaseOverview(), Worklist(), CaseDeadlines(settings)

    async def compose(runtime: ServiceRuntime) -> Wiring:
        keys = keyring.from_settings(settings)  # no KEK outside dev: refuse before any handler runs
        await key_setup.prepare(runtime.pool, keys)
        services = Services.build(runtime.pool, runtime.store, keys)
        for projection in (overview, worklist):  # they read kim.cases: opened with the clients' keys
            projection.unsealer = services.repo.cases.sealing.unsealer
        return Wiring(state={"services": services, "overview": OverviewReader(runtime.pool, overview),
                             "worklist": WorklistReader(runtime.pool, worklist)},
                      deadline_handlers=deadlines.handlers(services))

    runtime = ServiceRuntime(settings, migrations_package="kim_cases", compose=compose,
                             projections=[overview, CaseReferrals(), worklist], schedule=deadlines)
    return service_app(runtime, "KIM Hub: cases", routers=routes.ROUTERS, install=routes.install)
