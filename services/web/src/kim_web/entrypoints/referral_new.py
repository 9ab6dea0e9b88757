"""A new referral: the form first asks the consent gate (what is missing), then sends; the referrals service decides.

"Prüfen" shows the gate's answer computed from the consents the referrals service holds for the case; "Senden"
sends the request, and a 409 of the gate is shown with what it says is missing.
"""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, Request

from ..adapters.transport import ApiError
from ..application import forms
from ..application.consent_gate import check
from ..application.messages import problem
from .case_page import partner_names
from .web import Signed, posted, redirect, render, signed_in

router = APIRouter(prefix="/faelle/{case_id}/vermittlung")


async def _page(request: Request, signed: Signed, case_id: str, form: forms.Form | None, status: int = 200,
                p=None):
    case = (await signed.cases.case(case_id)).body
    try:
        consents = await signed.referrals.consents_of_case(case_id)
    except ApiError as exc:  # 404: the gate has not seen the just-opened case yet (the cases service showed it)
        if exc.status != 404:
            raise
        consents = []
    # the referrals service knows a consent's scope and withdrawals, the cases service its dates (case view)
    dates = {c["consent_id"]: c for c in case.get("consents", [])}
    consents = [c | {k: dates.get(c["consent_id"], {}).get(k) for k in ("granted_on", "valid_until")}
                for c in consents]
    partners = await partner_names(signed)
    answer = None
    if form is not None and form.get("to_organisation_id") and form.get("purpose"):
        answer = check(consents, recipient=form.get("to_organisation_id"), purpose=form.get("purpose"),
                       categories=form.getlist("data_categories"), today=date.today(),
                       consent_id=form.get("consent_id") or None,
                       recipient_name=partners.get(form.get("to_organisation_id")))
    return render(request, "referral_new.html", status, user=signed.user, case=case, consents=consents,
                  partners=partners, values=form.values() if form else {}, answer=answer, problem=p,
                  errors=p.fields if p else {})


@router.get("")
async def referral_form(case_id: str, request: Request, signed: Signed = Depends(signed_in)):
    return await _page(request, signed, case_id, None)


@router.post("")
async def referral(case_id: str, request: Request, form: forms.Form = Depends(posted),
                   signed: Signed = Depends(signed_in)):
    if form.get("action") != "senden":
        return await _page(request, signed, case_id, form)
    try:
        await signed.referrals.request(forms.body(form, forms.REFERRAL) | {"case_id": case_id})
    except ApiError as exc:
        if exc.status == 401:
            raise
        return await _page(request, signed, case_id, form, exc.status if exc.status in (403, 404, 409, 422)
                           else 502, problem(exc, what="Die Vermittlung"))
    return redirect(f"/faelle/{case_id}", "referral", anchor="referrals")
