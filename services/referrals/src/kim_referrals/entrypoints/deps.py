"""What every route needs: the command handlers and the metadata of the request."""

from __future__ import annotations

from fastapi import Request
from kim_runtime.auth import Principal
from kim_runtime.commands import CommandContext

from ..application.commands import ReferralCommands


def commands(request: Request) -> ReferralCommands:
    return request.app.state.commands


def context(request: Request, principal: Principal) -> CommandContext:
    """The runtime's command context of the request; events carry the caller's municipality unless the referral's
    case names another."""
    return CommandContext.of_request(principal, request.headers).in_municipality(principal.municipality)
