"""The partner side: a partner token (bound to one organisation) sees and acts on its own referrals only.

A partner names a referral by its own id (the key on its topic, derived per partner): the internal referral id never
reaches it. Another partner's referral answers 404, exactly like one that does not exist, so ids reveal nothing.
The ETag is the version of the partner's stream (ce_streamversion on its topic).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Header, Request, Response
from kim_runtime.pagination import Page, paged
from kim_runtime.auth import Principal
from kim_runtime.errors import NotFound
from kim_runtime.http import etag, parse_if_match
from kim_runtime.policy import authorize

from ..adapters import referral_sql
from ..application.commands import Decision
from .deps import commands, context
from .models import AppointmentIn, DeclineIn, OutcomeIn, PartnerReferralOut

router = APIRouter(prefix="/partner", tags=["partner side"])
inbox = authorize("partner.inbox")
reads = authorize("partner.referral.read")
partner_only = authorize("partner.referral.act")


@router.get("/referrals", response_model=list[PartnerReferralOut], summary="My organisation's referrals")
async def my_referrals(request: Request, response: Response, principal: Principal = Depends(inbox),
                       page: Page = Depends(paged())):
    async with request.app.state.runtime.pool.acquire() as conn:
        return page.answer([_view(r) for r in await referral_sql.referrals_of_partner(conn, principal.organisation)],
                           response)


@router.get("/referrals/{referral_id}", response_model=PartnerReferralOut, summary="One of my referrals")
async def my_referral(referral_id: str, request: Request, response: Response,
                      principal: Principal = Depends(reads)):
    out = await _mine(request, referral_id, principal)
    response.headers["ETag"] = etag(out.version)
    return out


@router.post("/referrals/{referral_id}/accept", response_model=PartnerReferralOut, summary="Accept a referral")
async def accept(referral_id: str, request: Request, response: Response, if_match: str | None = Header(default=None),
                 principal: Principal = Depends(partner_only)):
    return await _act(request, response, principal, referral_id, if_match, lambda r, now: r.accept(now))


@router.post("/referrals/{referral_id}/decline", response_model=PartnerReferralOut, summary="Decline, with a reason")
async def decline(referral_id: str, body: DeclineIn, request: Request, response: Response,
                  if_match: str | None = Header(default=None), principal: Principal = Depends(partner_only)):
    return await _act(request, response, principal, referral_id, if_match, lambda r, now: r.decline(body.reason, now))


@router.post("/referrals/{referral_id}/appointment", response_model=PartnerReferralOut,
             summary="Schedule (or move) the client's appointment")
async def schedule(referral_id: str, body: AppointmentIn, request: Request, response: Response,
                   if_match: str | None = Header(default=None), principal: Principal = Depends(partner_only)):
    return await _act(request, response, principal, referral_id, if_match,
                      lambda r, now: r.schedule(body.appointment_on, now))


@router.post("/referrals/{referral_id}/outcome", response_model=PartnerReferralOut, summary="Report an outcome code")
async def outcome(referral_id: str, body: OutcomeIn, request: Request, response: Response,
                  if_match: str | None = Header(default=None), principal: Principal = Depends(partner_only)):
    return await _act(request, response, principal, referral_id, if_match,
                      lambda r, now: r.report_outcome(body.outcome, now))


async def _act(request: Request, response: Response, principal: Principal, referral_id: str, if_match: str | None,
               decision: Decision) -> PartnerReferralOut:
    version = await commands(request).decide_as_partner(
        principal.organisation, referral_id, decision, context(request, principal),
        expected_version=parse_if_match(if_match),
    )
    response.headers["ETag"] = etag(version)
    return await _mine(request, referral_id, principal)


async def _mine(request: Request, referral_id: str, principal: Principal) -> PartnerReferralOut:
    async with request.app.state.runtime.pool.acquire() as conn:
        row = await referral_sql.referral_of_partner(conn, principal.organisation, referral_id)
    if row is None:
        raise NotFound(f"referral {referral_id} does not exist")
    return _view(row)


def _view(row) -> PartnerReferralOut:
    """The partner's view, under its own ids; a revoked referral shows only that it must be purged."""
    mine, version = row["partner_referral_id"], row["partner_version"]
    if row["state"] == "revoked":
        return PartnerReferralOut(referral_id=mine, state="revoked", purge=True, version=version)
    return PartnerReferralOut(
        referral_id=mine, state=row["state"], client_pseudonym=row["client_pseudonym"],
        purpose=row["purpose"], data_categories=list(row["data_categories"]), due_on=row["due_on"],
        appointment_on=row["appointment_on"], outcome=row["outcome"], version=version,
    )
