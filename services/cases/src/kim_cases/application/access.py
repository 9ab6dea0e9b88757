"""Who may see and change what: roles, and the team/municipality scope of case managers and team leads."""

from __future__ import annotations

from fastapi import HTTPException
from kim_runtime.auth import Principal, Role

CASEWORKERS = (Role.CASE_MANAGER, Role.TEAM_LEAD, Role.ADMIN)
READERS = (*CASEWORKERS, Role.AUDITOR)
ERASERS = (Role.TEAM_LEAD, Role.ADMIN)
# roles that may read personal data in clear; an auditor sees that it exists ("withheld"), not what it says
PERSONAL_DATA_READERS = frozenset(CASEWORKERS)
UNSCOPED = frozenset({Role.ADMIN, Role.AUDITOR})


def in_scope(principal: Principal, municipality: str | None, team_organisation_id: str | None) -> bool:
    """A case manager or team lead sees the cases of their own team or their own municipality."""
    if principal.role in UNSCOPED:
        return True
    return bool((principal.team and principal.team == team_organisation_id)
                or (principal.municipality and principal.municipality == municipality))


def ensure_in_scope(principal: Principal, municipality: str | None, team_organisation_id: str | None,
                    what: str) -> None:
    if not in_scope(principal, municipality, team_organisation_id):
        raise HTTPException(403, detail=(
            f"{what} belongs to team {team_organisation_id} in municipality {municipality}; your token is for team "
            f"{principal.team or '-'} in municipality {principal.municipality or '-'}: ask that team or an admin"))
