"""Berichte: the reporting service's indicators in German tables, with its suppression (cells under 5 persons)."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, Request

from ..adapters.transport import ApiError
from ..application.formats import iso_date
from ..application.indicators import tables
from ..application.labels import MUNICIPALITIES, PERIOD_KINDS
from ..application.messages import problem
from .case_page import partner_names
from .web import Signed, render, signed_in

router = APIRouter()


@router.get("/berichte")
async def reports(request: Request, signed: Signed = Depends(signed_in)):
    q = request.query_params
    today = date.today()
    values = {"period": q.get("period") if q.get("period") in PERIOD_KINDS else "quarter",
              "from": iso_date(q.get("from")) or today.replace(year=today.year - 1, month=1, day=1).isoformat(),
              "to": iso_date(q.get("to")) or today.isoformat(),
              "municipality": q.get("municipality") if q.get("municipality") in MUNICIPALITIES else ""}
    data, p, status = None, None, 200
    try:
        data = await signed.reporting.indicators(period=values["period"], first=values["from"], last=values["to"],
                                                 municipality=values["municipality"] or None)
    except ApiError as exc:
        if exc.status == 401:
            raise
        p, status = problem(exc, what="Der Bericht"), exc.status if exc.status in (403, 422) else 502
    partners = await partner_names(signed) if data else {}
    return render(request, "reports.html", status,
                  user=signed.user, values=values, data=data, tables=tables(data, partners) if data else [],
                  problem=p, errors=p.fields if p else {})
