"""The web app as a real process (`python -m kim_web`) in front of the e2e tier's four real services, and headless
Chromium (Debian's, driven by Playwright) to use it as a person would; axe-core (npm) checks every page.

Each test signs in with tokens minted for its own team and partner organisation, so tests do not see each other's
cases; the web app gets no secret and no data of its own.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from kim_cli import processes as procs
from kim_runtime.auth import Principal, Role, issue_token

from ..support import Caller
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[3]
CHROMIUM = Path("/usr/bin/chromium")
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--lang=de-DE"]
UNNA, TEAM = "05978036", "stadt-unna"

pytestmark = [pytest.mark.browser, pytest.mark.kafka, pytest.mark.postgres]


def pytest_collection_modifyitems(items):
    for item in items:
        if "/e2e/web/" in str(item.fspath):
            if not CHROMIUM.exists() and not shutil.which("chromium"):
                item.add_marker(pytest.mark.skip(reason="Debian's chromium is not installed (make browser)"))




@pytest.fixture(scope="package")
def web(services, tmp_path_factory) -> Iterator[str]:
    port = free_port()
    env = procs.web_env(urls=services.urls, port=port)
    proc = procs.start_service(procs.WEB, port, env, tmp_path_factory.mktemp("web-logs"))
    try:
        procs.wait_ready([proc])
        yield proc.url
    finally:
        procs.stop_services([proc])


@dataclass
class People:
    """The people of one test: a case manager and a team lead of one team, a partner organisation, an admin."""

    tag: str
    partner_id: str
    partner_name: str
    tokens: dict[str, str]
    api: dict[str, Caller]


@pytest.fixture
async def people(services) -> AsyncIterator[People]:
    tag = uuid.uuid4().hex[:8]
    partner_id, partner_name = f"jc-web-{tag}", f"Jobcenter Web {tag}"
    who = {
        "manager": Principal(sub=f"cm-{tag}", role=Role.CASE_MANAGER, team=TEAM, municipality=UNNA,
                             name=f"Fallmanagerin {tag}"),
        "lead": Principal(sub=f"lead-{tag}", role=Role.TEAM_LEAD, team=TEAM, name=f"Teamleitung {tag}"),
        "partner": Principal(sub=f"jc-{tag}", role=Role.PARTNER, organisation=partner_id, name=partner_name),
        "admin": Principal(sub="admin-web", role=Role.ADMIN),
        "stranger": Principal(sub=f"cm-other-{tag}", role=Role.CASE_MANAGER, team="stadt-luenen",
                              municipality="05978024"),
    }
    async with httpx.AsyncClient(timeout=30) as http:
        api = {k: Caller(http, services.urls, services.auth_secret, p) for k, p in who.items()}
        await api["admin"].expect(201, "POST", "referrals", "/partners", {
            "organisation_id": partner_id, "name": partner_name, "kind": "jobcenter", "public_body": True})
        yield People(tag, partner_id, partner_name,
                     {k: issue_token(services.auth_secret, p) for k, p in who.items()}, api)


@pytest.fixture(scope="package")
async def chromium():
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        # LANG: Chromium on Linux takes the format of date fields (TT.MM.JJJJ) from the process locale
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS,
                                           env={**os.environ, "LANG": "de_DE.UTF-8", "LANGUAGE": "de"})
        try:
            yield browser
        finally:
            await browser.close()
