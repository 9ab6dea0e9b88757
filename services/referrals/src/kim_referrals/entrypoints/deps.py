"""What every route needs: the command handlers and the metadata of the request."""

from __future__ import annotations

import uuid

from fastapi import Request
from kim_runtime.auth import Principal

from ..adapters.events import Context
from ..application.commands import ReferralCommands


def commands(request: Request) -> ReferralCommands:
    return request.app.state.commands


def context(request: Request, principal: Principal) -> Context:
    return Context(
        actor=principal.sub,
        correlation_id=request.headers.get("X-Correlation-ID") or str(uuid.uuid4()),
        causation_id=str(uuid.uuid4()),
        municipality=principal.municipality,
    )
