"""Wires the referrals service: runtime (store, relay, the kim.cases consumer), commands and the HTTP app."""

from __future__ import annotations

from fastapi import FastAPI
from kim_runtime.http import create_app
from kim_runtime.service import ServiceRuntime

from .adapters import referral_sql
from .adapters.cases_client import CasesClient
from .application import deadlines
from .application.cases_events import CasesEventHandler
from .application.commands import ReferralCommands
from .entrypoints import http
from .settings import ReferralSettings


class _Late:
    """Commands need the pool and store, which exist only once the runtime has started."""

    def __init__(self, runtime: ServiceRuntime, settings: ReferralSettings):
        self.runtime, self.settings, self._commands = runtime, settings, None

    @property
    def commands(self) -> ReferralCommands:
        if self._commands is None:
            self._commands = ReferralCommands(self.runtime.pool, self.runtime.store,
                                              pseudonym_secret=self.settings.pseudonym_secret,
                                              schema_base=self.settings.public_url)
        return self._commands


def build_app(settings: ReferralSettings | None = None) -> FastAPI:
    settings = settings or ReferralSettings()
    late: _Late
    handler = CasesEventHandler(lambda: late.commands)
    runtime = ServiceRuntime(settings, migrations_package="kim_referrals", handlers=[handler],
                             schedule=deadlines.schedule, deadline_handlers=deadlines.handlers(lambda: late.commands))
    late = _Late(runtime, settings)
    app = create_app("KIM Hub referrals", auth_secret=settings.auth_secret, lifespan=runtime.lifespan,
                     readiness=runtime.readiness())
    app.state.runtime = runtime
    app.state.services = late
    app.state.cases = CasesClient(settings.cases_url, settings.auth_secret)  # tests may give it a transport
    http.install(app)

    async def partner_credential(organisation_id: str) -> str | None:
        async with runtime.pool.acquire() as conn:
            return await referral_sql.partner_credential(conn, organisation_id)

    app.state.partner_credentials = partner_credential  # kim_runtime.auth: a rotated credential's tokens are refused
    return app
