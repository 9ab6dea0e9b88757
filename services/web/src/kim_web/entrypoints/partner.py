"""The partner's inbox: their organisation's referrals (pseudonyms and codes only) and what they can do with them."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from ..adapters.referrals_api import PARTNER_ACTIONS
from ..adapters.transport import ApiError
from ..application import forms
from ..application.messages import problem
from .web import Signed, posted, redirect, render, signed_in, unknown_action

router = APIRouter(prefix="/partner")
BODIES = {"accept": None, "decline": forms.DECLINE, "appointment": forms.APPOINTMENT, "outcome": forms.OUTCOME}


async def _inbox(request: Request, signed: Signed, status: int = 200, p=None, target: str | None = None,
                 section: str | None = None, values: dict | None = None):
    items = await signed.referrals.inbox()
    order = {"requested": 0, "accepted": 1, "appointment_scheduled": 2, "outcome_reported": 3, "declined": 4,
             "closed": 5, "revoked": 6}
    items.sort(key=lambda r: (order.get(r["state"], 9), str(r.get("due_on") or "")))
    return render(request, "partner.html", status, user=signed.user, items=items, problem=p, target=target,
                  section=section, values=values or {}, errors=p.fields if p else {})


@router.get("")
async def inbox(request: Request, signed: Signed = Depends(signed_in)):
    return await _inbox(request, signed)


@router.post("/{referral_id}/{action}")
async def act(referral_id: str, action: str, request: Request, form: forms.Form = Depends(posted),
              signed: Signed = Depends(signed_in)):
    if action not in PARTNER_ACTIONS:
        return unknown_action(request, signed)
    spec = BODIES[action]
    try:
        await signed.referrals.partner_action(referral_id, action, forms.body(form, spec) if spec else None,
                                              form.get("version"))
    except ApiError as exc:
        if exc.status == 401:
            raise
        status = exc.status if exc.status in (403, 404, 409, 410, 422) else 502
        return await _inbox(request, signed, status, problem(exc, what="Die Aktion"), referral_id,
                            f"{action}-{referral_id}", form.values())
    return redirect("/partner", action, anchor=f"r-{referral_id}")
