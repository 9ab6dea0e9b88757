"""The HTTP app's routes: the case side (/referrals, /cases, /partners) and the partner side (/partner)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from kim_runtime import problems

from ..domain.consent import ConsentMissing
from . import contract_api, partner_api, scope, staff_api


def install(app: FastAPI) -> None:
    scope.install(app)
    app.include_router(staff_api.router)
    app.include_router(partner_api.router)
    app.include_router(contract_api.router)

    @app.exception_handler(ConsentMissing)
    async def _consent_missing(request: Request, exc: ConsentMissing):
        return problems.response(409, str(exc), instance=request.url.path, type_=problems.problem_type(
            409, "consent-missing"), title="No consent covers this referral", missing=exc.missing)
