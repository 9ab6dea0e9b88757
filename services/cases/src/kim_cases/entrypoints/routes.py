"""The cases service's routes, included by kim_runtime.service.service_app, and what the app installs first."""

from __future__ import annotations

from fastapi import FastAPI, Request
from kim_runtime.auth import Principal
from kim_runtime.policy import Owner, Resource, owner_resolvers

from kim_cases.application.access import case_owner, client_owner
from kim_cases.entrypoints import audit_api, cases_api, casework_api, clients_api, internal_api, worklist_api

ROUTERS = (clients_api.router, cases_api.router, casework_api.router, worklist_api.router, internal_api.router,
           audit_api.router)


def install(app: FastAPI) -> None:
    """Tell the policy how this service finds the owner of a client and of a case."""

    async def of_case(request: Request, _: Principal, case_id: str) -> Owner | None:
        return await case_owner(request.app.state.services, case_id)

    async def of_client(request: Request, _: Principal, client_id: str) -> Owner | None:
        return await client_owner(request.app.state.services, client_id)

    owner_resolvers(app).update({Resource.CASE: of_case, Resource.CLIENT: of_client})
