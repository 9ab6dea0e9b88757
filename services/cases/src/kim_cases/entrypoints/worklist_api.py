"""HTTP: the worklist (Wiedervorlage) — follow-ups due today, overdue, or this week, oldest first."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request, Response
from kim_runtime.pagination import Page, paged
from kim_runtime.auth import Role
from kim_runtime.scheduler import local_day

from kim_cases.adapters.events import CommandContext
from kim_cases.entrypoints.deps import caller
from kim_cases.worklist import Due, Whose

router = APIRouter(tags=["worklist"])


@router.get("/worklist", summary="Follow-ups (reviews, pause ends, overdue referrals, appointments without outcome) "
                                 "of the cases in your reach, oldest first")
async def worklist(request: Request, response: Response, ctx: CommandContext = Depends(caller("worklist.read")),
                   due: Due = Query(Due.TODAY, description="today: due today; overdue: due before today and not "
                                                           "handled; week: due today or in the next six days"),
                   whose: Whose | None = Query(None, description="mine: cases you manage; team: every case in your "
                                                                 "reach (default: mine for case managers)"),
                   page: Page = Depends(paged(default=200))):
    if whose is None:
        whose = Whose.MINE if ctx.principal.role is Role.CASE_MANAGER else Whose.TEAM
    today = local_day(request.app.state.runtime.clock.now())
    items = page.trim(await request.app.state.worklist.list(ctx.principal, due=due, whose=whose, today=today,
                                                             limit=page.fetch, offset=page.offset), response)
    return {"due": due.value, "whose": whose.value, "today": today.isoformat(), "items": items}
