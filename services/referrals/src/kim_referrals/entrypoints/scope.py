"""The owners of what the referrals service serves, for the runtime's policy (kim_runtime.policy).

A case is owned by its team and municipality as this service knows them from the cases events (the same scope as in
the cases service); a referral by its case; a partner's referral (named by the partner's own id) by the partner
organisation it was sent to. Unknown here: no owner, so a scoped caller gets 404 as for a foreign one.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from kim_runtime.auth import Principal
from kim_runtime.policy import Owner, Resource, owner_resolvers

from ..adapters import gate_sql, referral_sql


async def case_owner(request: Request, _: Principal, case_id: str) -> Owner | None:
    async with request.app.state.runtime.pool.acquire() as conn:
        case = await conn.fetchrow(
            f"SELECT municipality, team_organisation_id FROM {gate_sql.CASES} WHERE case_id = $1", case_id)
    return None if case is None else Owner(frozenset({(case["municipality"], case["team_organisation_id"])}))


async def referral_owner(request: Request, principal: Principal, referral_id: str) -> Owner | None:
    async with request.app.state.runtime.pool.acquire() as conn:
        row = await referral_sql.referral(conn, referral_id)
    return None if row is None else await case_owner(request, principal, row["case_id"])


async def partner_referral_owner(request: Request, principal: Principal, partner_referral_id: str) -> Owner | None:
    async with request.app.state.runtime.pool.acquire() as conn:
        row = await referral_sql.referral_of_partner(conn, principal.organisation, partner_referral_id)
    return None if row is None else Owner(organisation=row["to_organisation_id"])


def install(app: FastAPI) -> None:
    owner_resolvers(app).update({Resource.CASE: case_owner, Resource.REFERRAL: referral_owner,
                                 Resource.PARTNER_REFERRAL: partner_referral_owner})
