"""The forms of the case page: each posts one command with the version the user saw, then shows the case again.

On a refusal the case page is rendered again with the API's answer at the form (422 fields, 409 reason or stale
version, 403/404 in German); nothing is retried behind the user's back.
"""

from __future__ import annotations

import asyncio
import re

from fastapi import APIRouter, Depends, Request
from kim_schemas.types import FILE_NUMBER_PATTERN

from ..adapters.cases_api import ACTIONS, goal_path, withdrawal_path
from ..adapters.transport import ApiError
from ..application import forms
from ..application.labels import LIFE_DOMAINS
from ..application.messages import problem
from .case_page import GOAL_ROWS, render_case
from .web import Signed, posted, redirect, render, signed_in, unknown_action

router = APIRouter(prefix="/faelle/{case_id}")
WITHDRAWAL_WAIT_S = 5.0  # how long a withdrawal waits for the referrals service to revoke what it no longer covers


def assessment(form: forms.Form) -> dict:
    domains = [{"domain": d, "need": form.get(f"need.{d}"), "resources": form.get(f"resources.{d}")}
               for d in LIFE_DOMAINS if form.get(f"need.{d}") or form.get(f"resources.{d}")]
    return forms.body(form, {"assessed_on": "date", "rechtskreis": "text"}) | {"domains": domains}


def plan(form: forms.Form) -> tuple[dict, list[int]]:
    goals, origin = forms.rows(form, "goals", {"domain": "text", "target_date": "date",
                                               "responsible_organisation_id": "text"}, GOAL_ROWS)
    for n, goal in enumerate(goals):
        goal["goal_id"] = f"{goal.get('domain', 'ziel')}-{origin[n] + 1}-{form.get('plan_no', '1')}"
    return forms.body(form, {"agreed_on": "date"}) | {"goals": goals}, origin


BODIES = {"consent": forms.CONSENT, "residence": forms.RESIDENCE, "milestone": forms.MILESTONE,
          "review": forms.REVIEW, "closure": forms.CLOSURE, "rechtskreis": {"current": "text", "changed_on": "date"}}


async def _refused(request, signed, case_id: str, exc: ApiError, section: str, form: forms.Form, what: str,
                   fields=None):
    if exc.status == 401:
        raise exc
    p = problem(exc, what=what)
    if fields is not None:
        p.fields = fields
    status = exc.status if exc.status in (403, 404, 409, 422) else 502
    return await render_case(request, signed, case_id, status=status, problem=p, section=section,
                             values=form.values())


@router.post("/aktion/{name}")
async def command(case_id: str, name: str, request: Request, form: forms.Form = Depends(posted),
                  signed: Signed = Depends(signed_in)):
    if name not in ACTIONS:
        return unknown_action(request, signed)
    origin: list[int] = []
    if name == "assessment":
        body = assessment(form)
    elif name == "plan":
        body, origin = plan(form)
    else:
        body = forms.body(form, BODIES[name])
    try:
        await signed.cases.command(case_id, ACTIONS[name], body, form.get("version"))
    except ApiError as exc:
        fields = forms.renumber(exc.fields, "goals", origin) if name == "plan" else None
        return await _refused(request, signed, case_id, exc, name, form, "Die Aktion", fields)
    return redirect(f"/faelle/{case_id}", name, anchor=name)


@router.post("/ziele/{goal_id}")
async def goal(case_id: str, goal_id: str, request: Request, form: forms.Form = Depends(posted),
               signed: Signed = Depends(signed_in)):
    outcome = form.get("outcome")
    spec = forms.GOAL_ACHIEVED if outcome == "achieved" else forms.GOAL_DROPPED
    try:
        await signed.cases.command(case_id, goal_path(goal_id, outcome), forms.body(form, spec), form.get("version"))
    except ApiError as exc:
        return await _refused(request, signed, case_id, exc, "plan", form, "Die Änderung des Ziels")
    return redirect(f"/faelle/{case_id}", "goal", anchor="plan")


@router.post("/einwilligungen/{consent_id}/widerruf")
async def withdraw(case_id: str, consent_id: str, request: Request, form: forms.Form = Depends(posted),
                   signed: Signed = Depends(signed_in)):
    before = await _gate_row(signed, case_id, consent_id)
    try:
        await signed.cases.command(case_id, withdrawal_path(consent_id), forms.body(form, forms.WITHDRAWAL),
                                   form.get("version"))
    except ApiError as exc:
        return await _refused(request, signed, case_id, exc, f"withdraw-{consent_id}", form, "Der Widerruf")
    await _until_gate_saw_it(signed, case_id, consent_id, before)
    return redirect(f"/faelle/{case_id}", "withdrawal", anchor="widerruf", widerruf=consent_id)


async def _gate_row(signed: Signed, case_id: str, consent_id: str) -> dict | None:
    try:
        return next((c for c in await signed.referrals.consents_of_case(case_id) if c["consent_id"] == consent_id),
                    None)
    except ApiError:
        return None


async def _until_gate_saw_it(signed: Signed, case_id: str, consent_id: str, before: dict | None) -> None:
    """The referrals service revokes open referrals in the same transaction in which it records the withdrawal;
    once its view of the consent changed, the case page can show which referrals the withdrawal ended."""
    if before is None:
        return
    deadline = asyncio.get_running_loop().time() + WITHDRAWAL_WAIT_S
    while asyncio.get_running_loop().time() < deadline:
        if await _gate_row(signed, case_id, consent_id) != before:
            return
        await asyncio.sleep(0.1)


@router.post("/vermittlungen/{referral_id}/abschliessen")
async def close_referral(case_id: str, referral_id: str, request: Request, form: forms.Form = Depends(posted),
                         signed: Signed = Depends(signed_in)):
    try:
        await signed.referrals.close(referral_id, form.get("version"))
    except ApiError as exc:
        return await _refused(request, signed, case_id, exc, "referrals", form, "Das Abschließen der Vermittlung")
    return redirect(f"/faelle/{case_id}", "referral_closed", anchor="referrals")


@router.get("/loeschen")
async def erasure_page(case_id: str, request: Request, signed: Signed = Depends(signed_in)):
    case = (await signed.cases.case(case_id)).body
    return render(request, "erasure.html", user=signed.user, case=case, problem=None, errors={})


@router.post("/loeschen")
async def erase(case_id: str, request: Request, form: forms.Form = Depends(posted),
                signed: Signed = Depends(signed_in)):
    case = (await signed.cases.case(case_id)).body
    errors = {name: text for name, text in (
        ("ground", "Bitte den Rechtsgrund der Löschung wählen."),
        ("request_reference", "Bitte das Aktenzeichen des Löschantrags angeben."),
        ("confirm", "Bitte bestätigen, dass die Daten endgültig gelöscht werden sollen."),
    ) if not form.get(name).strip() or (name == "confirm" and form.get(name) != "on")}
    if "request_reference" not in errors and not re.fullmatch(FILE_NUMBER_PATTERN, form.get("request_reference").strip()):
        errors["request_reference"] = ("Nur das Aktenzeichen: Buchstaben, Ziffern und / . _ -, ohne Leerzeichen, "
                                       "höchstens 40 Zeichen (keine Namen oder Daten der Person).")
    if errors:
        return render(request, "erasure.html", 422, user=signed.user, case=case, problem=None, errors=errors)
    try:
        await signed.cases.erase_client(case["client"]["client_id"], form.get("ground"),
                                        form.get("request_reference").strip())
    except ApiError as exc:
        if exc.status == 401:
            raise
        return render(request, "erasure.html", exc.status if exc.status in (403, 404, 409) else 502,
                      user=signed.user, case=case, problem=problem(exc, what="Die Löschung"), errors={})
    return redirect(f"/faelle/{case_id}", "erased")
