"""One way to call a service: the user's bearer token on every request, answers and errors in one shape.

A service's error becomes an ApiError that keeps what the page needs: the status, the service's reason, the
fields a 422 names, what a consent gate's 409 says is missing, and whether a 409 was a stale version.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class ApiError(Exception):
    status: int
    service: str
    detail: str = ""
    fields: dict[str, str] = field(default_factory=dict)  # form field (API path, dotted) -> error type or message
    field_types: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    stale: bool = False

    def __str__(self) -> str:
        return f"{self.service}: HTTP {self.status}: {self.detail}"


@dataclass
class Reply:
    body: Any
    etag: str | None = None
    next: str | None = None  # a list's next page (its Link header's rel="next"), path and query


def _error(service: str, response: httpx.Response) -> ApiError:
    try:
        body = response.json()
    except ValueError:
        body = {"detail": response.text[:500]}
    if not isinstance(body, dict):
        body = {"detail": str(body)}
    detail = body.get("detail")
    # a stale If-Match (412) is shown like the conflict it is: the page re-renders with the new version (409)
    status = 409 if response.status_code == 412 else response.status_code
    err = ApiError(status, service, detail if isinstance(detail, str) else "")
    for item in body.get("errors") or (detail if isinstance(detail, list) else []):
        path = item.get("field") or ".".join(str(p) for p in item.get("loc", []) if p not in ("body", "query"))
        err.fields.setdefault(path, item.get("message") or item.get("msg") or "")
        err.field_types.setdefault(path, item.get("type") or "")
    err.missing = [str(m) for m in body.get("missing") or []]
    err.stale = response.status_code in (409, 412) and "current_version" in body  # 412: a stale If-Match
    return err


class Transport:
    """The HTTP client of the whole app (one connection pool), bound to the services' base URLs."""

    def __init__(self, urls: dict[str, str], client: httpx.AsyncClient):
        self.urls, self.client = urls, client

    async def call(self, service: str, method: str, path: str, *, token: str, json: Any = None,
                   params: Any = None, if_match: str | None = None) -> Reply:
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        if if_match:
            headers["If-Match"] = if_match
        try:
            response = await self.client.request(method, self.urls[service] + path, json=json, params=params,
                                                 headers=headers)
        except httpx.HTTPError as exc:
            raise ApiError(503, service, f"{service} is not reachable: {exc.__class__.__name__}") from None
        if response.status_code >= 400:
            raise _error(service, response)
        body = response.json() if response.content else None
        return Reply(body, response.headers.get("ETag"), response.links.get("next", {}).get("url"))


MAX_PAGES = 50  # a list longer than this many pages is shown cut (each page holds up to 100 items by default)


class Session:
    """The services as one signed-in user sees them: the transport plus that user's token."""

    def __init__(self, transport: Transport, token: str):
        self.transport, self.token = transport, token

    async def get(self, service: str, path: str, params: Any = None) -> Any:
        """The answer; a list asked for without a `limit` is read whole, page after page (its Link rel="next")."""
        reply = await self.transport.call(service, "GET", path, token=self.token, params=params)
        body, pages = reply.body, 1
        while isinstance(body, list) and reply.next and "limit" not in (params or {}) and pages < MAX_PAGES:
            reply = await self.transport.call(service, "GET", reply.next, token=self.token)
            body, pages = body + list(reply.body or []), pages + 1
        return body

    async def read(self, service: str, path: str) -> Reply:
        return await self.transport.call(service, "GET", path, token=self.token)

    async def send(self, service: str, method: str, path: str, body: Any = None, *,
                   version: str | None = None) -> Reply:
        return await self.transport.call(service, method, path, token=self.token, json=body, if_match=version)
