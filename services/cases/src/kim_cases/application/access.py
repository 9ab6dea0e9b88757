"""Who may see and change what: the owners of clients and cases, for the runtime's one policy (kim_runtime.policy).

A case is owned by its team and municipality. A client is owned by the places of their cases and by the team and
municipality that registered them: whoever may act for one of these may act for the client. Taking over a client
another team serves is a recorded transfer of the case (POST /cases/{id}/transfer by its team), never a new case.
"""

from __future__ import annotations

import asyncpg
from fastapi import FastAPI, Request
from kim_runtime.auth import Principal, Role
from kim_runtime.errors import NotFound
from kim_runtime.policy import Owner, Resource, owner_resolvers

# roles that may read personal data in clear; an auditor sees that it exists ("withheld"), not what it says
PERSONAL_DATA_READERS = frozenset({Role.CASE_MANAGER, Role.TEAM_LEAD, Role.ADMIN})


async def record_registration(conn: asyncpg.Connection, client_id: str, principal: Principal) -> None:
    await conn.execute("INSERT INTO client_registrations (client_id, municipality, team) VALUES ($1, $2, $3)",
                       client_id, principal.municipality, principal.team)


async def case_owner(s, case_id: str) -> Owner | None:
    try:
        case = await s.repo.case(case_id)
    except NotFound:
        return None
    return Owner(frozenset({(case.municipality, case.team_organisation_id)}))


async def client_owner(s, client_id: str) -> Owner | None:
    """The registering place and the place of each of the client's cases (None: no such client)."""
    first = await s.store.read_stream(client_id)
    if not first:
        return None
    async with s.pool.acquire() as conn:
        registered = await conn.fetchrow(
            "SELECT municipality, team FROM client_registrations WHERE client_id = $1", client_id)
    places = {(registered["municipality"], registered["team"]) if registered else (first[0].municipality, None)}
    for case_id in await s.repo.case_ids_of(client_id):
        case = await s.repo.case(case_id)
        places.add((case.municipality, case.team_organisation_id))
    return Owner(frozenset(places))


def install(app: FastAPI) -> None:
    """Tell the policy how this service finds the owner of a client and of a case."""

    async def of_case(request: Request, _: Principal, case_id: str) -> Owner | None:
        return await case_owner(request.app.state.services, case_id)

    async def of_client(request: Request, _: Principal, client_id: str) -> Owner | None:
        return await client_owner(request.app.state.services, client_id)

    owner_resolvers(app).update({Resource.CASE: of_case, Resource.CLIENT: of_client})
