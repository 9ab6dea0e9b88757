"""The cases service (clients, cases, consent ledger, casework), as documented at its /docs."""

from __future__ import annotations

from typing import Any

from .transport import Reply, Session

S = "cases"


def etag_of(version: int | str | None) -> str | None:
    return None if version in (None, "") else f'"{version}"'


class CasesApi:
    def __init__(self, session: Session):
        self.s = session

    async def cases(self, *, phase: str | None = None, limit: int = 500) -> list[dict]:
        params = {"limit": limit} | ({"phase": phase} if phase else {})
        return await self.s.get(S, "/cases", params)

    async def worklist(self, *, due: str, whose: str) -> list[dict]:
        """Follow-ups (Wiedervorlagen) of the cases in the caller's reach: due today, overdue or this week."""
        answer = await self.s.get(S, "/worklist", {"due": due, "whose": whose})
        return answer["items"] if isinstance(answer, dict) else answer

    async def case(self, case_id: str) -> Reply:
        return await self.s.read(S, f"/cases/{case_id}")

    async def history(self, case_id: str) -> list[dict]:
        return await self.s.get(S, f"/cases/{case_id}/history")

    async def register_client(self, body: dict) -> dict:
        return (await self.s.send(S, "POST", "/clients", body)).body

    async def open_case(self, body: dict) -> dict:
        return (await self.s.send(S, "POST", "/cases", body)).body

    async def erase_client(self, client_id: str, ground: str, request_reference: str) -> dict:
        return (await self.s.send(S, "POST", f"/clients/{client_id}/erasure",
                                  {"ground": ground, "request_reference": request_reference})).body

    async def command(self, case_id: str, action: str, body: dict, version: int | str | None) -> dict:
        """A command on a case (consents, withdrawal, assessment, plan, milestones, goals, closure...), sent with
        the version the user saw, so a change made meanwhile by someone else is refused (409) and not overwritten."""
        return (await self.s.send(S, "POST", f"/cases/{case_id}/{action}", body, version=etag_of(version))).body


# the case commands the web app sends: form name -> path under /cases/{id}/
ACTIONS: dict[str, str] = {
    "consent": "consents",
    "assessment": "assessment",
    "residence": "residence-status",
    "rechtskreis": "rechtskreis",
    "plan": "plan",
    "milestone": "milestones",
    "review": "reviews",
    "closure": "closure",
}


def withdrawal_path(consent_id: str) -> str:
    return f"consents/{consent_id}/withdrawal"


def goal_path(goal_id: str, outcome: str) -> str:
    return f"goals/{goal_id}/{'achieved' if outcome == 'achieved' else 'dropped'}"


def personal(case: dict[str, Any]) -> dict[str, Any]:
    """The client's personal fields as the case view returns them ("erased"/"withheld" or the values)."""
    return {k: v for k, v in (case.get("client") or {}).items() if k != "client_id"}
