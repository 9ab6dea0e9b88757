"""The referrals service's routes (the case side: /referrals, /cases, /partners; the partner side: /partner),
included by kim_runtime.service.service_app, and what the app installs first."""

from __future__ import annotations

from fastapi import FastAPI

from . import contract_api, partner_api, scope, staff_api

ROUTERS = (staff_api.router, partner_api.router, contract_api.router)


def install(app: FastAPI) -> None:
    scope.install(app)
