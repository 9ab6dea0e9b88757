"""Who runs `kim audit`: a bearer token like the APIs take (--token, else KIM_TOKEN, else the older name
KIM_AUDIT_TOKEN), verified as the services verify it: an HS256 token with their auth secret (KIM_AUTH_SECRET, else
the local stack's secrets.json), or the identity provider's token when KIM_OIDC_ISSUER is set. Which command needs
which role, and which may run without a token, is decided in kim_runtime.policy.COMMANDS; there is no free-text
actor: whatever a command records is recorded under the token's subject and role."""

from __future__ import annotations

import asyncio
import os

from kim_runtime.auth import Principal
from kim_runtime.oidc import OidcSettings, TokenVerifier
from kim_runtime.policy import COMMANDS, CommandRefused, ensure_command
from kim_runtime.settings import RuntimeSettings

from kim_cli.audit.connect import UserError
from kim_cli.master_key import local_stack_secret

TOKEN_VARIABLES = ("KIM_TOKEN", "KIM_AUDIT_TOKEN")


def auth_secret() -> str:
    settings = RuntimeSettings()
    if os.environ.get("KIM_AUTH_SECRET"):
        return settings.auth_secret
    local = local_stack_secret("auth_secret")
    return local[1] if local else settings.auth_secret


def given_token(token: str | None) -> str | None:
    return token or next((os.environ[v] for v in TOKEN_VARIABLES if os.environ.get(v)), None)


def authenticate(command: str, token: str | None) -> Principal | None:
    """The caller of `kim audit <command>`: the token's principal, refused (UserError) when the token is not valid
    or the policy does not let its role run the command. A token-less command (the policy's rule: it shows no
    client's data) answers None and reads no token."""
    if COMMANDS[command].public:
        return None
    token = given_token(token)
    who = None
    if token:
        try:
            who = asyncio.run(TokenVerifier(auth_secret(), OidcSettings()).verify(token))
        except ValueError as exc:  # says why: expired, not valid, provider unreachable
            raise UserError(f"the token was refused: {exc}") from None
    try:
        ensure_command(command, who)
    except CommandRefused as exc:
        raise UserError(str(exc)) from None
    return who
