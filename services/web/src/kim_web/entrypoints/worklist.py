"""The worklist (cases by phase) and the intake (register a client and open their case in one form)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse

from ..adapters.transport import ApiError
from ..application import forms
from ..application.labels import PHASES
from ..application.messages import problem
from .web import Signed, posted, redirect, render, signed_in

router = APIRouter()


def followups(signed: Signed) -> list[dict] | None:
    """Follow-ups due (Wiedervorlagen). None until the services keep deadlines (consent expiry, reviews): the
    worklist then shows this list above the phases. Nothing is computed here on purpose."""
    return None


@router.get("/")
async def worklist(request: Request, signed: Signed = Depends(signed_in)):
    if signed.user.is_partner:
        return RedirectResponse("/partner", status_code=303)
    phase = request.query_params.get("phase") or None
    mine = request.query_params.get("meine") == "1"
    cases = await signed.cases.cases(phase=phase if phase in PHASES else None)
    if mine:
        cases = [c for c in cases if c.get("case_manager_id") == signed.user.sub]
    groups = [(code, name, [c for c in cases if c.get("phase") == code]) for code, name in PHASES.items()]
    return render(request, "worklist.html", user=signed.user, groups=groups, phase=phase, mine=mine,
                  total=len(cases), followups=followups(signed))


def team_kind(team: str | None) -> str:
    for prefix, kind in (("stadt-", "stadt"), ("kreis-", "kreis"), ("abh-", "abh"), ("ebh-", "ebh")):
        if (team or "").startswith(prefix):
            return kind
    return "traeger" if team else ""


def _intake(request: Request, signed: Signed, values: dict, status: int = 200, p=None):
    defaults = {"municipality": signed.user.municipality or "", "team_organisation_id": signed.user.team or "",
                "team": team_kind(signed.user.team), "access_channel": "selbstmeldung", "baustein": "2"}
    return render(request, "intake.html", status, user=signed.user, values=defaults | values, problem=p,
                  errors=p.fields if p else {})


@router.get("/aufnahme")
async def intake_page(request: Request, signed: Signed = Depends(signed_in)):
    return _intake(request, signed, {})


@router.post("/aufnahme")
async def intake(request: Request, form: forms.Form = Depends(posted), signed: Signed = Depends(signed_in)):
    values = form.values()
    client_id = form.get("client_id")
    try:
        if not client_id:  # registered once: a second try after a refusal opens the case for the same client
            client_id = (await signed.cases.register_client(forms.body(form, forms.CLIENT)))["client_id"]
            values["client_id"] = client_id
        case = await signed.cases.open_case(forms.body(form, forms.CASE) | {"client_id": client_id})
    except ApiError as exc:
        if exc.status == 401:
            raise
        return _intake(request, signed, values, exc.status if exc.status in (403, 404, 409, 422) else 502,
                       problem(exc, what="Die Aufnahme"))
    return redirect(f"/faelle/{case['case_id']}", "aufnahme")
