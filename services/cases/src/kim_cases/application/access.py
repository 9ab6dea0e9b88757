"""Who may see and change what: roles, and the team/municipality scope of case managers and team leads."""

from __future__ import annotations

from kim_runtime.auth import UNSCOPED, Role, ensure_in_scope, in_scope  # noqa: F401  (the service's names)

CASEWORKERS = (Role.CASE_MANAGER, Role.TEAM_LEAD, Role.ADMIN)
READERS = (*CASEWORKERS, Role.AUDITOR)
ERASERS = (Role.TEAM_LEAD, Role.ADMIN)
# roles that may read personal data in clear; an auditor sees that it exists ("withheld"), not what it says
PERSONAL_DATA_READERS = frozenset(CASEWORKERS)
