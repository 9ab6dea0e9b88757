"""HTTP: cases — open, list, read (state and history), consent, transfer, pause, resume, close."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from fastapi import APIRouter, Depends, Query, Request, Response
from kim_runtime.http import claimed_in_append
from kim_runtime.pagination import Page, paged

from kim_cases.adapters.events import CommandContext
from kim_cases.application import cases, views
from kim_cases.application.services import Services
from kim_cases.domain import Phase
from kim_cases.entrypoints import requests as rq
from kim_cases.entrypoints.deps import caller, expected_version, result, services, tag

router = APIRouter(prefix="/cases", tags=["cases"])
Writer = Depends(caller("case.work"))
Reader = Depends(caller("case.read"))
Version = Depends(expected_version)


@router.post("", status_code=201, summary="Intake: open a case for a registered client")
@claimed_in_append  # reads, then one append: its Idempotency-Key is claimed by that append's statement
async def open_case(body: rq.OpenCase, response: Response, ctx: CommandContext = Depends(caller("case.open")),
                    s: Services = Depends(services)):
    fields = body.model_dump() | {"case_manager_id": body.case_manager_id or ctx.principal.sub}
    case, version = await cases.open_case(s, ctx, **fields)
    response.headers["Location"] = f"/cases/{case.case_id}"
    return result(response, case, version, client_id=case.client_id)


@router.get("", summary="The cases you may see (your team's or municipality's), newest first")
async def list_cases(request: Request, response: Response, ctx: CommandContext = Depends(caller("case.list")),
                     phase: Phase | None = None, page: Page = Depends(paged())):
    return page.trim(await request.app.state.overview.list(ctx.principal, phase=phase, limit=page.fetch,
                                                           offset=page.offset), response)


@router.get("/{case_id}", summary="A case's current state (personal data opened per reader, each read recorded)")
async def get_case(case_id: str, response: Response, ctx: CommandContext = Reader,
                   s: Services = Depends(services), as_of: date | None = Query(None, description="Day for consent "
                                                                                      "status; default today")):
    case = await views.load_visible(s, ctx, case_id)
    tag(response, case.version)
    return await views.state(s, ctx, case, as_of or date.today(), via=f"GET /cases/{case_id}")


@router.get("/{case_id}/history", summary="Every event of the case: what, who, when, caused by which command")
async def case_history(case_id: str, response: Response, ctx: CommandContext = Reader,
                       s: Services = Depends(services), page: Page = Depends(paged())):
    case = await views.load_visible(s, ctx, case_id)
    return page.answer(await views.history(s, ctx, case_id, case.client_id, via=f"GET /cases/{case_id}/history"),
                       response)


@router.post("/{case_id}/consents", status_code=201, summary="Record the client's consent")
async def grant_consent(case_id: str, body: rq.GrantConsent, response: Response, expected: int | None = Version,
                        ctx: CommandContext = Writer, s: Services = Depends(services)):
    consent_id = str(uuid.uuid4())
    case, version = await cases.execute(s, ctx, case_id, expected, lambda c: c.grant_consent(
        consent_id=consent_id, recorded_by=ctx.principal.sub, **body.model_dump()))
    return result(response, case, version, consent_id=consent_id)


@router.post("/{case_id}/consents/{consent_id}/withdrawal", summary="Withdraw a consent: all, a recipient, a category")
async def withdraw_consent(case_id: str, consent_id: str, body: rq.WithdrawConsent, response: Response,
                           expected: int | None = Version, ctx: CommandContext = Writer,
                           s: Services = Depends(services)):
    case, version = await cases.execute(s, ctx, case_id, expected, lambda c: c.withdraw_consent(
        consent_id=consent_id, effective_at=datetime.now(UTC), **body.model_dump()))
    return result(response, case, version)


@router.post("/{case_id}/transfer", summary="Move the case to another team, municipality or case manager")
async def transfer(case_id: str, body: rq.TransferCase, response: Response, expected: int | None = Version,
                   ctx: CommandContext = Depends(caller("case.transfer")), s: Services = Depends(services)):
    case, version = await cases.execute(s, ctx, case_id, expected, lambda c: c.transfer(**body.model_dump()))
    return result(response, case, version)


@router.post("/{case_id}/pause", summary="Pause the case (stays open, not counted as active)")
async def pause(case_id: str, body: rq.PauseCase, response: Response, expected: int | None = Version,
                ctx: CommandContext = Writer, s: Services = Depends(services)):
    case, version = await cases.execute(s, ctx, case_id, expected, lambda c: c.pause(**body.model_dump()))
    return result(response, case, version)


@router.post("/{case_id}/resume", summary="Resume a paused case")
async def resume(case_id: str, body: rq.ResumeCase, response: Response, expected: int | None = Version,
                 ctx: CommandContext = Writer, s: Services = Depends(services)):
    case, version = await cases.execute(s, ctx, case_id, expected, lambda c: c.resume(**body.model_dump()))
    return result(response, case, version)


@router.post("/{case_id}/closure", summary="Close the case with a reason")
async def close(case_id: str, body: rq.CloseCase, response: Response, expected: int | None = Version,
                ctx: CommandContext = Writer, s: Services = Depends(services)):
    case, version = await cases.execute(s, ctx, case_id, expected, lambda c: c.close(**body.model_dump()))
    return result(response, case, version, closure=case.closure.model_dump(mode="json", exclude={"case_id"}))
