"""The referrals service's routes (the case side: /referrals, /cases, /partners; the partner side: /partner),
included by kim_runtime.service.service_app, and what the app installs first."""

from __future__ import annotations

from fastapi import FastAPI, Request
from kim_runtime import problems

from ..domain.consent import ConsentMissing
from . import contract_api, partner_api, scope, staff_api

ROUTERS = (staff_api.router, partner_api.router, contract_api.router)


def install(app: FastAPI) -> None:
    scope.install(app)

    @app.exception_handler(ConsentMissing)
    async def _consent_missing(request: Request, exc: ConsentMissing):
        return problems.response(409, str(exc), instance=request.url.path, type_=problems.problem_type(
            409, "consent-missing"), title="No consent covers this referral", missing=exc.missing)
