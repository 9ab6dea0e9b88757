"""Personal: VZÄ funded vs filled per municipality and Baustein, cases per filled VZÄ, caseloads over the limit."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, Request

from ..adapters.transport import ApiError
from ..application.formats import iso_date
from ..application.messages import Problem, problem
from .web import Signed, render, signed_in

router = APIRouter()


@router.get("/personal")
async def staffing(request: Request, signed: Signed = Depends(signed_in)):
    today = date.today()
    values = {"from": iso_date(request.query_params.get("from")) or today.replace(month=1, day=1).isoformat(),
              "to": iso_date(request.query_params.get("to")) or today.isoformat()}
    coverage = per_vza = caseloads = None
    p = None
    try:
        coverage = await signed.staffing.funded_vs_filled(date.fromisoformat(values["from"]),
                                                          date.fromisoformat(values["to"]))
        per_vza = await signed.staffing.caseload_per_vza()
        caseloads = await signed.staffing.caseloads()
    except ValueError:
        p = problem_of_dates()
    except ApiError as exc:
        if exc.status == 401:
            raise
        p = problem(exc, what="Die Übersicht")
    return render(request, "staffing.html", 200 if p is None else 422, user=signed.user, values=values,
                  coverage=coverage, per_vza=per_vza, caseloads=sorted(caseloads or [], key=lambda c: (
                      not c.get("over_limit"), -int(c.get("active_cases") or 0))), problem=p,
                  errors=p.fields if p else {})


def problem_of_dates() -> Problem:
    return Problem("Bitte die markierten Angaben prüfen.", fields={
        "from": "Bitte ein Datum angeben (TT.MM.JJJJ).", "to": "Bitte ein Datum angeben (TT.MM.JJJJ)."})
