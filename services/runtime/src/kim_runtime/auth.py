"""Bearer tokens and roles. Tokens are HS256 JWTs signed with KIM_AUTH_SECRET; service tokens with
KIM_SERVICE_TOKEN_SECRET, which only the services hold (kim_runtime.oidc.TokenVerifier keeps the two apart).

Roles: case_manager, team_lead, partner (bound to one organisation), auditor, admin, and service: a KIM service
calling another on an internal path (`service_token`, signed with the service token secret). A token may carry the team
and municipality (AGS) its holder works for; a partner token carries its organisation id. What each role may do on
which route is decided in one place, kim_runtime.policy.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from enum import StrEnum

import jwt
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from .errors import NotInScope

ISSUER = "kim-hub"


class Role(StrEnum):
    CASE_MANAGER = "case_manager"
    TEAM_LEAD = "team_lead"
    PARTNER = "partner"
    AUDITOR = "auditor"
    ADMIN = "admin"
    SERVICE = "service"  # another KIM service on an internal path (sub = the service, e.g. kim-referrals)


class Principal(BaseModel):
    sub: str
    role: Role
    team: str | None = None
    municipality: str | None = None
    organisation: str | None = None
    name: str | None = None
    # a partner's API credential (`kim partner onboard` / `rotate`): once its organisation has one, a local token
    # of that partner must carry the current one (see current_principal)
    credential: str | None = None


def issue_token(secret: str, principal: Principal, *, ttl_seconds: int = 12 * 3600) -> str:
    if principal.role is Role.PARTNER and not principal.organisation:
        raise ValueError("a partner token must be bound to an organisation")
    now = int(time.time())
    claims = principal.model_dump(exclude_none=True) | {"iss": ISSUER, "iat": now, "exp": now + ttl_seconds}
    return jwt.encode(claims, secret, algorithm="HS256")


REFERRALS_SERVICE = "kim-referrals"
REPORTING_SERVICE = "kim-reporting"


def service_token(secret: str, service: str, *, ttl_seconds: int = 300) -> str:
    """A short-lived token a KIM service sends on an internal path of another (role service, sub = the caller);
    `secret` is KIM_SERVICE_TOKEN_SECRET: a service token signed with KIM_AUTH_SECRET is refused."""
    return issue_token(secret, Principal(sub=service, role=Role.SERVICE), ttl_seconds=ttl_seconds)


def decode_token(secret: str, token: str) -> Principal:
    claims = jwt.decode(token, secret, algorithms=["HS256"], issuer=ISSUER, options={"require": ["exp", "sub"]})
    return Principal.model_validate({k: v for k, v in claims.items() if k in Principal.model_fields})


_bearer = HTTPBearer(auto_error=False)


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail=detail, headers={"WWW-Authenticate": 'Bearer realm="kim-hub"'})


# Where a middleware that verified the request's token already (kim_runtime.idempotency) leaves (token, principal) in
# the request's own state, so the route does not verify the same token a second time
VERIFIED = "kim_verified_token"


def remember_verified(scope, token: str, principal: Principal) -> None:
    if isinstance(state := scope.setdefault("state", {}), dict):
        state[VERIFIED] = (token, principal)


def _verified_before(request: Request, token: str) -> Principal | None:
    state = request.scope.get("state")
    found = state.get(VERIFIED) if isinstance(state, dict) else None
    return found[1] if found is not None and found[0] == token else None


async def current_principal(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)
) -> Principal:
    if credentials is None:
        raise _unauthorized("a bearer token is required: send 'Authorization: Bearer <token>'")
    from .oidc import ProviderUnavailable  # oidc builds on this module's Principal

    try:
        principal = (_verified_before(request, credentials.credentials)
                     or await request.app.state.token_verifier.verify(credentials.credentials))
    except ProviderUnavailable as exc:
        raise HTTPException(503, detail=str(exc), headers={"Retry-After": "30"}) from None
    except ValueError as exc:  # OidcError, saying why: expired, wrong audience, unknown key, no KIM role, ...
        raise _unauthorized(str(exc)) from None
    await check_partner_credential(request, principal, credentials.credentials)
    return principal


# A service that keeps partner API credentials sets app.state.partner_credentials to an async function
# organisation id -> the id of its current credential (None: none issued).
PartnerCredentials = Callable[[str], Awaitable[str | None]]


async def check_partner_credential(request: Request, principal: Principal, token: str) -> None:
    """A partner's local (HS256) token is refused once its organisation has a credential (`kim partner onboard`)
    and the token does not carry the current one: `kim partner rotate` invalidates every earlier token at once.
    Tokens of the identity provider (OIDC) are the provider's to revoke."""
    current_of: PartnerCredentials | None = getattr(request.app.state, "partner_credentials", None)
    if current_of is None or principal.role is not Role.PARTNER or jwt.get_unverified_header(token).get("alg") != "HS256":
        return
    current = await current_of(principal.organisation)
    if current is not None and principal.credential != current:
        raise _unauthorized("the token is not valid: its partner credential was replaced (kim partner rotate); "
                            "use the token of the newest onboarding sheet")


# Admins and auditors reach every case; case managers and team leads those of their own team or municipality.
UNSCOPED = frozenset({Role.ADMIN, Role.AUDITOR})


def in_scope(principal: Principal, municipality: str | None, team_organisation_id: str | None) -> bool:
    """A case manager or team lead sees the cases of their own team or their own municipality."""
    if principal.role in UNSCOPED:
        return True
    return bool((principal.team and principal.team == team_organisation_id)
                or (principal.municipality and principal.municipality == municipality))


def ensure_in_scope(principal: Principal, municipality: str | None, team_organisation_id: str | None,
                    what: str) -> None:
    """403 naming whose case it is and what the token is for, when the case is out of the principal's scope."""
    if not in_scope(principal, municipality, team_organisation_id):
        raise NotInScope((
            f"{what} belongs to team {team_organisation_id} in municipality {municipality}; your token is for team "
            f"{principal.team or '-'} in municipality {principal.municipality or '-'}: ask that team or an admin"))
