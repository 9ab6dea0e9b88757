"""FastAPI dependencies: the caller's command context, the service's handlers, the version the caller saw."""

from __future__ import annotations

from fastapi import Header, Request, Response
from kim_runtime.http import command_context, etag, parse_if_match

from kim_cases.application.services import Services


def caller(action: str):
    """A dependency: the CommandContext of a caller the policy lets do `action` (kim_runtime.policy: 401/403/404),
    built by the runtime, with X-Correlation-ID and X-Command-ID in the OpenAPI document."""
    return command_context(action, documented=True)


async def services(request: Request) -> Services:
    return request.app.state.services


async def expected_version(if_match: str | None = Header(
        default=None, description='The ETag you last saw, e.g. "3"; a stale one gets 412')) -> int | None:
    return parse_if_match(if_match)


def tag(response: Response, version: int) -> None:
    response.headers["ETag"] = etag(version)


def result(response: Response, case, version: int, **extra) -> dict:
    """What a command answers: the case's new version (also as ETag) and where it stands."""
    tag(response, version)
    return {"case_id": case.case_id, "version": version, "phase": case.phase.value, "paused": case.paused is not None,
            **extra}
