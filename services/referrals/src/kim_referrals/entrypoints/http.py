"""The HTTP app's routes: the case side (/referrals, /cases, /partners) and the partner side (/partner)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from ..domain.consent import ConsentMissing
from . import partner_api, scope, staff_api


def install(app: FastAPI) -> None:
    scope.install(app)
    app.include_router(staff_api.router)
    app.include_router(partner_api.router)

    @app.exception_handler(ConsentMissing)
    async def _consent_missing(_: Request, exc: ConsentMissing):
        return JSONResponse({"detail": str(exc), "missing": exc.missing}, status_code=409)
