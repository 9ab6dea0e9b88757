"""Composition root of the referrals service: once the runtime has its pool and store, `compose` builds the command
handlers and hands them to the routes (app.state), the consent gate (the kim.cases process manager) and the scheduler
(kim_runtime.service)."""

from __future__ import annotations

from fastapi import FastAPI
from kim_runtime.service import ServiceRuntime, Wiring, service_app

from .adapters import referral_sql
from .adapters.cases_client import CasesClient
from .adapters.credential_cache import PartnerCredentialCache
from .adapters.referral_keys import PartnerKeys
from .application import deadlines
from .application.cases_events import ConsentGate
from .application.commands import ReferralCommands
from .entrypoints import routes
from .settings import ReferralSettings


def build_app(settings: ReferralSettings | None = None) -> FastAPI:
    settings = settings or ReferralSettings()

    async def compose(runtime: ServiceRuntime) -> Wiring:
        partner_keys = PartnerKeys(*settings.partner_key_keks())
        async with runtime.pool.acquire() as conn:
            await partner_keys.record_held(conn)  # what `kim keys rotate --service referrals` may re-wrap to
        commands = ReferralCommands(runtime.store, pseudonym_secret=settings.pseudonym_secret,
                                    schema_base=settings.public_url, credential_issued=partner_credentials.issued,
                                    cases=cases, partner_keys=partner_keys)
        return Wiring(state={"commands": commands}, projections=[ConsentGate(commands)],
                      deadline_handlers=deadlines.handlers(commands))

    runtime = ServiceRuntime(settings, migrations_package="kim_referrals", compose=compose,
                             schedule=deadlines.schedule)
    cases = CasesClient(settings.cases_url, settings.service_token_secret)  # no pool; tests may give a transport

    async def partner_credential(organisation_id: str) -> str | None:
        async with runtime.pool.acquire() as conn:
            return await referral_sql.partner_credential(conn, organisation_id)

    # set before the first request (kim_runtime.auth: a rotated credential's tokens are refused); a short cache per
    # organisation, which the command recording PartnerCredentialIssued updates at once
    partner_credentials = PartnerCredentialCache(partner_credential, settings.partner_credential_cache_seconds)
    return service_app(runtime, "KIM Hub referrals", routers=routes.ROUTERS, install=routes.install,
                       state={"cases": cases, "partner_credentials": partner_credentials})
