"""Who is signed in, read from the claims of their bearer token, and what the pages offer them.

The web app does not verify the token's signature (it holds no secret): the services do that on every call, and
a token they refuse ends the session. The claims only decide what the pages show; the services decide what happens.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass

CASEWORKERS = frozenset({"case_manager", "team_lead", "admin"})
ERASERS = frozenset({"team_lead", "admin"})
STAFF_READERS = frozenset({"case_manager", "team_lead", "admin", "auditor"})


class NotAToken(ValueError):
    """The text is not a bearer token this system issues (three base64url parts with sub, role and exp)."""


@dataclass(frozen=True)
class User:
    sub: str
    role: str
    name: str | None = None
    team: str | None = None
    municipality: str | None = None
    organisation: str | None = None
    expires_at: int = 0

    @property
    def expired(self) -> bool:
        return self.expires_at <= time.time()

    @property
    def is_partner(self) -> bool:
        return self.role == "partner"

    @property
    def works_cases(self) -> bool:
        return self.role in CASEWORKERS

    @property
    def reads_cases(self) -> bool:
        return self.role in STAFF_READERS

    @property
    def may_erase(self) -> bool:
        return self.role in ERASERS

    @property
    def home(self) -> str:
        return "/partner" if self.is_partner else "/"


def user_of(token: str) -> User:
    """The claims of a token, for display; raises NotAToken when it cannot be one."""
    parts = token.strip().split(".")
    if len(parts) != 3:
        raise NotAToken("a token has three parts separated by dots")
    try:
        payload = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(payload))
        return User(sub=str(claims["sub"]), role=str(claims["role"]), name=claims.get("name"),
                    team=claims.get("team"), municipality=claims.get("municipality"),
                    organisation=claims.get("organisation"), expires_at=int(claims["exp"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise NotAToken(f"the token's claims cannot be read ({exc.__class__.__name__})") from None
