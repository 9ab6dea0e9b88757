"""The case page: overview, consent ledger, assessment, residence, plan and goals, milestones, referrals, timeline.

Every section's form posts to case_actions; a refusal renders this page again with the problem at that section.
"""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, Request

from ..adapters.cases_api import personal
from ..adapters.transport import ApiError
from ..application.messages import Problem
from ..application.timeline import timeline
from .web import Signed, render, signed_in

router = APIRouter()
GOAL_ROWS = 3


async def partner_names(signed: Signed) -> dict[str, str]:
    try:
        return {p["organisation_id"]: p["name"] for p in await signed.referrals.partners()}
    except ApiError as exc:
        if exc.status == 401:
            raise
        return {}


async def referrals_of(signed: Signed, case_id: str) -> list[dict]:
    try:
        return await signed.referrals.of_case(case_id)
    except ApiError as exc:
        if exc.status in (401, 403):
            raise
        return []  # the referrals service is down or lags: the page still shows the case


async def render_case(request: Request, signed: Signed, case_id: str, *, status: int = 200,
                      problem: Problem | None = None, section: str | None = None, values: dict | None = None,
                      withdrawn: str | None = None):
    reply = await signed.cases.case(case_id)
    case = reply.body
    history = await signed.cases.history(case_id)
    referrals = await referrals_of(signed, case_id)
    revoked = [r for r in referrals if withdrawn and r["consent_id"] == withdrawn and r["state"] == "revoked"]
    return render(
        request, "case.html", status, user=signed.user, case=case, person=personal(case),
        version=case["version"], timeline=timeline(history), referrals=referrals, partners=await partner_names(signed),
        problem=problem, section=section, values=values or {}, errors=problem.fields if problem else {},
        agreed_goals=[g for g in case.get("goals", []) if g.get("status") == "agreed"], goal_rows=range(GOAL_ROWS),
        today=date.today().isoformat(), withdrawn=withdrawn, revoked=revoked,
        closed=case.get("phase") == "closed")


@router.get("/faelle/{case_id}")
async def case_page(case_id: str, request: Request, signed: Signed = Depends(signed_in)):
    withdrawn = request.query_params.get("widerruf")
    return await render_case(request, signed, case_id, withdrawn=withdrawn)
