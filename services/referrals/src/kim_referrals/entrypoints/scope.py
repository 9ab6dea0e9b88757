"""Case managers and team leads reach the referrals of their own team's or municipality's cases (as in the cases
service); admins and auditors reach all. The scope comes from the case as the referrals service knows it."""

from __future__ import annotations

from fastapi import HTTPException, Request
from kim_runtime.auth import Principal, Role

UNSCOPED = frozenset({Role.ADMIN, Role.AUDITOR})


async def ensure_case_in_scope(request: Request, principal: Principal, case_id: str) -> None:
    if principal.role in UNSCOPED:
        return
    async with request.app.state.runtime.pool.acquire() as conn:
        case = await conn.fetchrow("SELECT municipality, team_organisation_id FROM gate_cases WHERE case_id = $1",
                                   case_id)
    if case is None:
        return  # unknown here: the command or read answers 404 itself
    team, municipality = case["team_organisation_id"], case["municipality"]
    same_team = principal.team is not None and principal.team == team
    if same_team or (principal.municipality is not None and principal.municipality == municipality):
        return
    raise HTTPException(403, detail=(
        f"case {case_id} belongs to team {team} in municipality {municipality}; your token is for team "
        f"{principal.team or '-'} in municipality {principal.municipality or '-'}: ask that team or an admin"))
