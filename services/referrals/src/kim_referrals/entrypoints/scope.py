"""Case managers and team leads reach the referrals of their own team's or municipality's cases (as in the cases
service); admins and auditors reach all. The scope comes from the case as the referrals service knows it."""

from __future__ import annotations

from fastapi import Request
from kim_runtime.auth import UNSCOPED, Principal, ensure_in_scope


async def ensure_case_in_scope(request: Request, principal: Principal, case_id: str) -> None:
    if principal.role in UNSCOPED:
        return
    async with request.app.state.runtime.pool.acquire() as conn:
        case = await conn.fetchrow("SELECT municipality, team_organisation_id FROM gate_cases WHERE case_id = $1",
                                   case_id)
    if case is None:
        return  # unknown here: the command or read answers 404 itself
    ensure_in_scope(principal, case["municipality"], case["team_organisation_id"], f"case {case_id}")
