"""Who runs `kim audit`: a bearer token like the APIs take (--token or KIM_AUDIT_TOKEN), verified as the services verify
it: an HS256 token with their auth secret (KIM_AUTH_SECRET, else the local stack's secrets.json), or the identity
provider's token when KIM_OIDC_ISSUER is set. Reading personal data in clear needs the token
of an auditor or admin; the read is then recorded under that identity, in the client's own access log."""

from __future__ import annotations

import asyncio
import os

from kim_runtime.auth import Principal, Role
from kim_runtime.oidc import OidcSettings, TokenVerifier
from kim_runtime.settings import RuntimeSettings

from kim_cli.audit.connect import UserError
from kim_cli.master_key import local_stack_secret

READERS = (Role.AUDITOR, Role.ADMIN)


def auth_secret() -> str:
    settings = RuntimeSettings()
    if os.environ.get("KIM_AUTH_SECRET"):
        return settings.auth_secret
    local = local_stack_secret("auth_secret")
    return local[1] if local else settings.auth_secret


def principal(token: str | None, *, reveal: bool) -> Principal | None:
    """The token's principal (None without a token); refused when it is not valid, or when personal data is to be
    shown in clear without an auditor's or admin's token."""
    token = token or os.environ.get("KIM_AUDIT_TOKEN")
    if not token:
        if reveal:
            raise UserError("--show-personal needs an auditor's or admin's token (--token or KIM_AUDIT_TOKEN), as the "
                            "APIs do; the read is recorded under that identity in the client's access log")
        return None
    try:
        who = asyncio.run(TokenVerifier(auth_secret(), OidcSettings()).verify(token))
    except ValueError as exc:  # says why: expired, not valid, provider unreachable
        raise UserError(str(exc)) from None
    if reveal and who.role not in READERS:
        raise UserError(f"role {who.role.value} may not read personal data through the audit trail; needs one of: "
                        f"{', '.join(r.value for r in READERS)}")
    return who
