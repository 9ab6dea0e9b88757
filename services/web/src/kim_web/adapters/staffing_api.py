"""The staffing service: funded vs filled VZÄ, caseloads."""

from __future__ import annotations

from datetime import date

from .transport import Session

S = "staffing"


class StaffingApi:
    def __init__(self, session: Session):
        self.s = session

    async def funded_vs_filled(self, first: date, last: date) -> dict:
        return await self.s.get(S, "/reports/funded-vs-filled",
                                {"period_from": first.isoformat(), "period_to": last.isoformat()})

    async def caseload_per_vza(self) -> dict:
        return await self.s.get(S, "/caseloads/per-vza")

    async def caseloads(self) -> list[dict]:
        return await self.s.get(S, "/caseloads")
