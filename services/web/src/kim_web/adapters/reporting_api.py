"""The reporting service: indicator cells (suppressed below 5 persons by the service itself) and the catalogue."""

from __future__ import annotations

from .transport import Session

S = "reporting"


class ReportingApi:
    def __init__(self, session: Session):
        self.s = session

    async def indicators(self, *, period: str, first: str, last: str, municipality: str | None = None) -> dict:
        params = {"period": period, "from": first, "to": last} | ({"municipality": municipality} if municipality
                                                                   else {})
        return await self.s.get(S, "/indicators", params)

    async def catalogue(self) -> dict:
        return await self.s.get(S, "/catalogue")
