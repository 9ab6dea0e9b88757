"""A person at the browser: sign in, go to pages, and check each page with axe-core (WCAG 2.1 AA) on the way.

`checked` keeps every page axe looked at and what it found, so a failure names the page and the rule; when
KIM_WEB_SCREENSHOTS names a folder, the main pages are saved there as PNG (services/web/docs/ for the README).
"""

from __future__ import annotations

import os
from pathlib import Path

from playwright.async_api import Page, expect

from .conftest import AXE

WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
# waits, not timings: on a busy 2-core machine a page that calls four services can take longer than Playwright's 5 s
expect.set_options(timeout=30_000)
AXE_RESULTS: dict[str, int] = {}  # page -> violations (the session's summary)


class Person:
    def __init__(self, page: Page, base: str):
        self.page, self.base = page, base
        self.errors: list[str] = []
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        # a page answered 4xx on purpose (a refusal) is fine; a missing script, style or image is not
        page.on("response", lambda r: self.errors.append(f"{r.status} {r.url}")
                if r.status >= 400 and r.request.resource_type != "document" else None)

    @classmethod
    async def open(cls, chromium, base: str) -> Person:
        context = await chromium.new_context(locale="de-DE", bypass_csp=True, viewport={"width": 1200, "height": 900})
        context.set_default_timeout(60_000)
        return cls(await context.new_page(), base)

    async def close(self) -> None:
        await self.page.context.close()

    async def goto(self, path: str):
        return await self.page.goto(self.base + path)

    async def sign_in(self, token: str) -> None:
        """The production way: paste the token the identity provider issued."""
        await self.goto("/anmelden")
        await self.page.locator("#token").fill(token)
        await self.page.get_by_role("button", name="Anmelden", exact=True).click()
        await expect(self.page.get_by_role("status")).to_contain_text("Sie sind angemeldet.")

    async def accessible(self, name: str, screenshot: str | None = None) -> None:
        """axe-core on the page as it is now: no violation of WCAG 2.1 A/AA."""
        await self.page.wait_for_load_state("load")
        if not await self.page.evaluate("typeof axe !== 'undefined'"):
            await self.page.add_script_tag(path=str(AXE))
        result = await self.page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})",
                                          WCAG_21_AA)
        violations = [(v["id"], v["help"], [n["target"] for n in v["nodes"]][:5]) for v in result["violations"]]
        AXE_RESULTS[name] = len(violations)
        assert not violations, f"axe on {name} ({self.page.url}): {violations}"
        assert len(result["passes"]) > 10, "axe ran no checks"  # it did look at the page
        assert await self.page.evaluate("document.documentElement.lang") == "de"
        assert not self.errors, f"script errors on {name}: {self.errors}"
        if screenshot and (folder := os.environ.get("KIM_WEB_SCREENSHOTS")):
            Path(folder).mkdir(parents=True, exist_ok=True)
            await self.page.screenshot(path=str(Path(folder) / f"{screenshot}.png"), full_page=True)

    def section(self, name: str):
        return self.page.get_by_role("region", name=name)
