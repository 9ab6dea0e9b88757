"""The partner side: a partner token (bound to one organisation) sees and acts on its own referrals only.

A partner names a referral by its own id (the key on its topic, derived per partner): the internal referral id never
reaches it. Another partner's referral answers 404, exactly like one that does not exist, so ids reveal nothing.
A referral answers exactly the snapshot its topic's newest record carries (same fields, same state words); the ETag
is its version (ce_streamversion). A revoked referral answers 410 Gone with the reason (a problem detail), as its
topic ends in the revocation notice and a tombstone; the list leaves it out, as a compacted topic does.
"""

from __future__ import annotations

import base64
import uuid

from fastapi import APIRouter, Depends, Header, Request, Response
from kim_runtime.pagination import Page, paged
from kim_runtime.auth import Principal
from kim_runtime.errors import Gone, NotFound
from kim_runtime.http import etag, parse_if_match
from kim_runtime.policy import authorize

from kim_schemas.codes import PERSON_FIELDS, EndedReason
from kim_schemas.partner import PartnerReferralSnapshot

from ..adapters import gate_sql, referral_sql
from ..application import views
from ..application.commands import Decision
from .deps import commands, context
from .models import AppointmentIn, DeclineIn, OutcomeIn, PersonOut, ReferralKeyOut

router = APIRouter(prefix="/partner", tags=["partner side"])
inbox = authorize("partner.inbox")
reads = authorize("partner.referral.read")
partner_only = authorize("partner.referral.act")
person_reader = authorize("partner.referral.person")
key_reader = authorize("partner.referral.key")
PERSON_CATEGORIES = tuple(c.value for c in PERSON_FIELDS)  # the categories that hold personal fields (cases service)


@router.get("/referrals", response_model=list[PartnerReferralSnapshot],
            summary="My organisation's referrals: the current snapshot of each (revoked ones are gone)")
async def my_referrals(request: Request, response: Response, principal: Principal = Depends(inbox),
                       page: Page = Depends(paged())):
    async with request.app.state.runtime.pool.acquire() as conn:
        rows = await referral_sql.referrals_of_partner(conn, principal.organisation)
        shown = await views.shown_many(conn, commands(request).partner_keys,
                                       [r["partner_referral_id"] for r in rows if r["state"] != "revoked"])
    return page.answer([s.snapshot for s in shown if s.snapshot is not None and s.revoked is None], response)


@router.get("/referrals/{referral_id}", response_model=PartnerReferralSnapshot,
            summary="One of my referrals: the same snapshot as the newest record of its key on my topic",
            responses={410: {"description": "Revoked: purge it (problem detail with the reason)"}})
async def my_referral(referral_id: str, request: Request, response: Response,
                      principal: Principal = Depends(reads)):
    out = await _mine(request, referral_id, principal)
    response.headers["ETag"] = etag(out.version)
    return out


@router.get("/referrals/{referral_id}/person", response_model=PersonOut,
            summary="The client's personal data the consent shares with you (decrypted on request, recorded)",
            responses={410: {"description": "Revoked, consent withdrawn or expired, the client erased, or the "
                                            "referral declined or closed: the problem detail's `reason` says which"}})
async def person(referral_id: str, request: Request, principal: Principal = Depends(person_reader)):
    async with request.app.state.runtime.pool.acquire() as conn:
        row = await referral_sql.referral_of_partner(conn, principal.organisation, referral_id)
        if row is None:
            raise NotFound(f"referral {referral_id} does not exist")
        [shown] = await views.shown_many(conn, commands(request).partner_keys, [referral_id])
        client_id = await conn.fetchval(f"SELECT client_id FROM {gate_sql.CASES} WHERE case_id = $1", row["case_id"])
        erased = client_id and await conn.fetchval(
            f"SELECT erased_at IS NOT NULL FROM {gate_sql.CLIENTS} WHERE client_id = $1", client_id)
    views.refuse_if_revoked(referral_id, row, shown)
    if erased:
        raise Gone(f"the client's data was erased: delete what you hold for referral {referral_id}",
                   reason="loeschung", referral_id=referral_id)
    ended = {"declined": EndedReason.DECLINED, "closed": EndedReason.CLOSED}.get(row["state"])
    if ended is not None:
        raise Gone(f"referral {referral_id} is {row['state']}: its personal data is no longer shared",
                   reason=ended.value, referral_id=referral_id)
    categories = [c for c in PERSON_CATEGORIES if c in row["data_categories"]]
    if not categories:
        return PersonOut(referral_id=referral_id, categories=[], person={})
    got = await request.app.state.cases.consented_person(
        case_id=row["case_id"], consent_id=row["consent_id"], recipient=principal.organisation,
        purpose=row["purpose"], categories=categories, reference=referral_id,
        correlation_id=request.headers.get("X-Correlation-ID") or str(uuid.uuid4()))
    return PersonOut(referral_id=referral_id, categories=got["categories"], person=got["person"])


@router.get("/referrals/{referral_id}/key", response_model=ReferralKeyOut,
            summary="The key of one of my referrals: it opens the sealed snapshots of that key on my topic",
            responses={410: {"description": "Revoked: the key is destroyed; purge the referral and its key "
                                            "(problem detail with the reason)"}})
async def referral_key(referral_id: str, request: Request, response: Response,
                       principal: Principal = Depends(key_reader)):
    keys = commands(request).partner_keys
    async with request.app.state.runtime.pool.acquire() as conn:
        row = await referral_sql.referral_of_partner(conn, principal.organisation, referral_id)
        if row is None:
            raise NotFound(f"referral {referral_id} does not exist")
        [shown] = await views.shown_many(conn, keys, [referral_id])
        key = (await keys.of(conn, [referral_id])).get(referral_id)
    views.refuse_if_revoked(referral_id, row, shown)
    if key is None:  # published before contract 4.0.0 and unchanged since: its snapshots are not sealed
        raise NotFound(f"referral {referral_id} has no key: its snapshots on your topic are not sealed")
    response.headers["Cache-Control"] = "no-store"
    return ReferralKeyOut(referral_id=referral_id, key_id=key.key_id, algorithm="AES-256-GCM",
                          key=base64.b64encode(key.key).decode(), associated_data=f"{referral_id}:{{version}}")


@router.post("/referrals/{referral_id}/accept", response_model=PartnerReferralSnapshot, summary="Accept a referral")
async def accept(referral_id: str, request: Request, response: Response, if_match: str | None = Header(default=None),
                 principal: Principal = Depends(partner_only)):
    return await _act(request, response, principal, referral_id, if_match, lambda r, now: r.accept(now))


@router.post("/referrals/{referral_id}/decline", response_model=PartnerReferralSnapshot,
             summary="Decline, with a reason")
async def decline(referral_id: str, body: DeclineIn, request: Request, response: Response,
                  if_match: str | None = Header(default=None), principal: Principal = Depends(partner_only)):
    return await _act(request, response, principal, referral_id, if_match, lambda r, now: r.decline(body.reason, now))


@router.post("/referrals/{referral_id}/appointment", response_model=PartnerReferralSnapshot,
             summary="Schedule (or move) the client's appointment")
async def schedule(referral_id: str, body: AppointmentIn, request: Request, response: Response,
                   if_match: str | None = Header(default=None), principal: Principal = Depends(partner_only)):
    return await _act(request, response, principal, referral_id, if_match,
                      lambda r, now: r.schedule(body.appointment_on, now))


@router.post("/referrals/{referral_id}/outcome", response_model=PartnerReferralSnapshot,
             summary="Report an outcome code")
async def outcome(referral_id: str, body: OutcomeIn, request: Request, response: Response,
                  if_match: str | None = Header(default=None), principal: Principal = Depends(partner_only)):
    return await _act(request, response, principal, referral_id, if_match,
                      lambda r, now: r.report_outcome(body.outcome, now))


async def _act(request: Request, response: Response, principal: Principal, referral_id: str, if_match: str | None,
               decision: Decision) -> PartnerReferralSnapshot:
    version = await commands(request).decide_as_partner(
        principal.organisation, referral_id, decision, context(request, principal),
        expected_version=parse_if_match(if_match),
    )
    response.headers["ETag"] = etag(version)
    return await _mine(request, referral_id, principal)


async def _mine(request: Request, referral_id: str, principal: Principal) -> PartnerReferralSnapshot:
    async with request.app.state.runtime.pool.acquire() as conn:
        row = await referral_sql.referral_of_partner(conn, principal.organisation, referral_id)
        if row is None:
            raise NotFound(f"referral {referral_id} does not exist")
        [shown] = await views.shown_many(conn, commands(request).partner_keys, [referral_id])
    views.refuse_if_revoked(referral_id, row, shown)
    return shown.snapshot
