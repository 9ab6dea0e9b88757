"""The four services in-process on their real PostgreSQL (a fresh database each), without Kafka.

Bad input is refused by the HTTP layer before anything is written, so these tests need no broker: each app gets an
unreachable bootstrap address, keeps retrying it in the background and never starts its relay or consumers. The
database then changes only through HTTP, which lets a test prove that a refused request wrote nothing.
"""

from __future__ import annotations

import contextlib
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from json import dumps
from pathlib import Path

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from kim_cli.stack import create_database, drop_database
from kim_runtime.auth import Principal, Role, issue_token

SECRET = "bad-input-test-secret-of-enough-length!!"
NO_KAFKA = "127.0.0.1:1"
LUENEN = "05978024"


def token(role: Role = Role.ADMIN, *, sub: str = "staff-1", team: str | None = None,
          municipality: str | None = None, organisation: str | None = None) -> dict[str, str]:
    principal = Principal(sub=sub, role=role, team=team, municipality=municipality, organisation=organisation)
    return {"Authorization": f"Bearer {issue_token(SECRET, principal)}"}


ADMIN = token()
MANAGER = token(Role.CASE_MANAGER, team="stadt-luenen", municipality=LUENEN)
TEAM_LEAD = token(Role.TEAM_LEAD, sub="lead-1", team="stadt-luenen", municipality=LUENEN)
PARTNER = token(Role.PARTNER, sub="partner-1", organisation="abh-unna")


def _builders() -> dict[str, Callable[..., FastAPI]]:
    from kim_cases.bootstrap import build_app as cases
    from kim_cases.settings import CasesSettings
    from kim_referrals.bootstrap import build_app as referrals
    from kim_referrals.settings import ReferralSettings
    from kim_reporting.bootstrap import build_app as reporting
    from kim_reporting.settings import ReportingSettings
    from kim_staffing.bootstrap import build_app as staffing
    from kim_staffing.settings import StaffingSettings

    common = {"kafka_bootstrap": NO_KAFKA, "auth_secret": SECRET}
    return {
        "cases": lambda url, **kw: cases(CasesSettings(database_url=url, **common, **kw)),
        "staffing": lambda url, **kw: staffing(StaffingSettings(database_url=url, **common, **kw)),
        "referrals": lambda url, **kw: referrals(ReferralSettings(database_url=url, **common, **kw)),
        "reporting": lambda url, **kw: reporting(ReportingSettings(database_url=url, **common, **kw)),
    }


@dataclass
class Service:
    name: str
    app: FastAPI
    http: httpx.AsyncClient
    db: asyncpg.Connection
    _digest_query: str = ""

    async def call(self, method: str, url: str, *, json=None, headers: dict | None = None) -> httpx.Response:
        """JSON bodies are sent ASCII-escaped, so a lone surrogate travels as \\ud800 (as any client may send it)."""
        headers = ADMIN if headers is None else headers
        if json is None:
            return await self.http.request(method, url, headers=headers)
        return await self.http.request(method, url, content=dumps(json).encode(),
                                       headers=headers | {"content-type": "application/json"})

    async def state(self) -> dict[str, str]:
        """A digest of every table's content (event store, outbox, read models): equal digests, nothing written."""
        if not self._digest_query:
            tables = [r["t"] for r in await self.db.fetch(
                "SELECT format('%I.%I', schemaname, tablename) AS t FROM pg_tables "
                "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1")]
            self._digest_query = " UNION ALL ".join(
                f"SELECT '{t}' AS t, md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) AS d FROM {t} x"
                for t in tables)
        return {r["t"]: r["d"] for r in await self.db.fetch(self._digest_query)}


@contextlib.asynccontextmanager
async def running(name: str, database_url: str, **settings) -> AsyncIterator[Service]:
    # no Kafka here: the signed receipts of reads (access log) go to an anchor file, else the read is refused (503)
    with tempfile.TemporaryDirectory(prefix="kim-anchors-") as anchors:
        app = _builders()[name](database_url, **({"audit_anchor_dir": Path(anchors)} | settings))
        async with _serving(name, app, database_url) as svc:
            yield svc


@contextlib.asynccontextmanager
async def _serving(name: str, app: FastAPI, database_url: str) -> AsyncIterator[Service]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        db = await asyncpg.connect(database_url)
        try:
            async with httpx.AsyncClient(transport=transport, base_url=f"http://{name}") as http:
                yield Service(name, app, http, db)
        finally:
            await db.close()


@pytest.fixture
async def service_db(stack) -> AsyncIterator[Callable[[], str]]:
    created: list[str] = []

    async def new() -> str:
        name = f"kim_test_{uuid.uuid4().hex[:16]}"
        await create_database(stack.postgres_url, name)
        created.append(name)
        return stack.database_url(name)

    try:
        yield new
    finally:
        for name in created:
            await drop_database(stack.postgres_url, name)
