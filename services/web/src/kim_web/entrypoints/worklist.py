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


# what falls due, as a case manager says it
FOLLOW_UPS = {"review": "Überprüfung des Hilfeplans", "pause_end": "geplantes Ende der Pause",
              "referral_overdue": "Vermittlung ohne Antwort des Partners",
              "appointment_outcome": "Termin ohne gemeldetes Ergebnis"}


async def followups(signed: Signed, mine: bool) -> list[dict] | None:
    """Follow-ups (Wiedervorlagen) overdue or due within the week, oldest first, from the cases service's worklist;
    None for a role that works no cases (the list is not theirs to see)."""
    if not signed.user.works_cases:
        return None
    whose = "mine" if mine else "team"
    items = [*await signed.cases.worklist(due="overdue", whose=whose),
             *await signed.cases.worklist(due="week", whose=whose)]
    return [{**f, "what": FOLLOW_UPS.get(f.get("kind"), f.get("kind"))} for f in items]


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
                  total=len(cases), followups=await followups(signed, mine))


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
