"""A small HTTP client for the four services, with a bearer token per acting person.

Services learn of each other's events over Kafka, so a command that depends on another service's event (a referral
needs the case and its consent at the referrals service; a case-manager assignment needs the case at staffing)
may meet "not known yet" for a moment: `call(..., settle=True)` retries 404/409 answers until a deadline.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping

import httpx
from kim_runtime.auth import Principal, Role, issue_token

from kim_cli.processes import DEFAULT_PORTS

SETTLE_SECONDS = 30.0


class DemoError(RuntimeError):
    """A service refused a demo command; the message names the call and the service's answer."""


def default_urls(host: str = "127.0.0.1", base_port: int | None = None) -> dict[str, str]:
    ports = {s: (p if base_port is None else base_port + i) for i, (s, p) in enumerate(DEFAULT_PORTS.items())}
    return {s: f"http://{host}:{p}" for s, p in ports.items()}


class Api:
    def __init__(self, urls: Mapping[str, str], secret: str, client: httpx.AsyncClient):
        self.urls, self.secret, self.client = dict(urls), secret, client
        self._tokens: dict[tuple, str] = {}

    def headers(self, who: Principal) -> dict[str, str]:
        key = tuple(who.model_dump().values())
        if key not in self._tokens:
            self._tokens[key] = issue_token(self.secret, who, ttl_seconds=3600)
        return {"Authorization": f"Bearer {self._tokens[key]}"}

    async def call(self, who: Principal, method: str, service: str, path: str, body: dict | None = None, *,
                   settle: bool = False, ok: tuple[int, ...] = (), headers: dict[str, str] | None = None
                   ) -> dict | list:
        """The JSON answer of a 2xx (or an `ok` status); DemoError otherwise. `headers` go with the request (e.g.
        If-Match where the service requires it)."""
        deadline = time.monotonic() + SETTLE_SECONDS
        delay = 0.05
        headers = self.headers(who) | (headers or {})
        if method in ("POST", "PUT", "PATCH"):  # one key per command: never applied twice (a settle retry is new)
            headers = headers | {"Idempotency-Key": str(uuid.uuid4())}
        while True:
            try:
                r = await self.client.request(method, self.urls[service] + path, json=body, headers=headers)
            except httpx.TransportError as exc:
                raise DemoError(f"{method} {self.urls[service]}{path}: {exc!r}: is the {service} service up?") from exc
            if r.is_success or r.status_code in ok:
                return r.json() if r.content else {}
            if settle and r.status_code in (404, 409) and time.monotonic() < deadline:
                if "Idempotency-Key" in headers:  # answered and refused (a refusal may be recorded, and its answer
                    # replayed to the same key): the try after the event has arrived is a new request
                    headers = headers | {"Idempotency-Key": str(uuid.uuid4())}
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.5)
                continue
            raise DemoError(f"{method} {service}{path} as {who.role.value} {who.sub} answered {r.status_code}: "
                            f"{r.text[:500]}")


ADMIN = Principal(sub="demo-admin", role=Role.ADMIN, name="Demo-Administration")


def manager(staff_member_id: str, team: str, municipality: str) -> Principal:
    return Principal(sub=staff_member_id, role=Role.CASE_MANAGER, team=team, municipality=municipality)


def team_lead(team: str) -> Principal:
    return Principal(sub=f"lead-{team}", role=Role.TEAM_LEAD, team=team)


def partner(organisation_id: str) -> Principal:
    return Principal(sub=f"sachbearbeitung-{organisation_id}", role=Role.PARTNER, organisation=organisation_id)
