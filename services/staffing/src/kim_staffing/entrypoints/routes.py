"""The staffing service's routes, included by kim_runtime.service.service_app, and what the app installs first."""

from __future__ import annotations

from fastapi import FastAPI
from kim_runtime.policy import Resource, owner_resolvers

from . import caseload_api, grants_api, positions_api, reports_api
from .http import case_owner

ROUTERS = (grants_api.router, positions_api.router, caseload_api.router, reports_api.router)


def install(app: FastAPI) -> None:
    """Tell the policy how this service finds the owner of a case (from the kim.cases events it keeps)."""
    owner_resolvers(app)[Resource.CASE] = case_owner
