"""The referrals service: partners, referrals, the consent gate's view of a case, and the partner side."""

from __future__ import annotations

from .cases_api import etag_of
from .transport import Reply, Session

S = "referrals"


class ReferralsApi:
    def __init__(self, session: Session):
        self.s = session

    async def partners(self) -> list[dict]:
        return await self.s.get(S, "/partners")

    async def of_case(self, case_id: str) -> list[dict]:
        return await self.s.get(S, f"/cases/{case_id}/referrals")

    async def consents_of_case(self, case_id: str) -> list[dict]:
        """The consents as the consent gate knows them (what a referral request is checked against)."""
        return await self.s.get(S, f"/cases/{case_id}/consents")

    async def request(self, body: dict) -> dict:
        return (await self.s.send(S, "POST", "/referrals", body)).body

    async def close(self, referral_id: str, version: int | str | None) -> dict:
        return (await self.s.send(S, "POST", f"/referrals/{referral_id}/close", version=etag_of(version))).body

    # the partner side: a partner token sees only its organisation's referrals, pseudonymous
    async def inbox(self) -> list[dict]:
        return await self.s.get(S, "/partner/referrals")

    async def inbox_item(self, referral_id: str) -> Reply:
        return await self.s.read(S, f"/partner/referrals/{referral_id}")

    async def partner_action(self, referral_id: str, action: str, body: dict | None,
                             version: int | str | None) -> dict:
        """accept, decline, appointment or outcome"""
        return (await self.s.send(S, "POST", f"/partner/referrals/{referral_id}/{action}", body,
                                  version=etag_of(version))).body


PARTNER_ACTIONS = ("accept", "decline", "appointment", "outcome")
