"""The dashboard in headless Chromium (Debian's chromium, driven by Playwright): it loads, the charts draw, and the
numbers they show are the API's."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from pathlib import Path

import pytest
import uvicorn

from .conftest import auth
from .history import generate
from tests.ports import free_port

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
QUERY = {"period": "quarter", "from": "2024-01-01", "to": "2025-06-30"}

pytestmark = [
    pytest.mark.browser, pytest.mark.kafka, pytest.mark.postgres,
    pytest.mark.skipif(not CHROMIUM.exists() and not shutil.which("chromium"),
                       reason="Debian's chromium is not installed (make node installs it: apt-get install chromium)"),
]




@contextlib.asynccontextmanager
async def served(app):
    """The already-started app behind a real HTTP server on a free port (the browser needs a socket)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def by_period(cells: list[dict], indicator: str, dim: str = "") -> dict:
    return {c["period"]: c["value"] for c in cells
            if c["indicator"] == indicator and (next(iter(c["dimensions"].values()), "") == dim)}


async def test_the_dashboard_draws_the_charts_with_the_apis_numbers(reporting):
    from playwright.async_api import async_playwright

    await reporting.publish(generate(seed=31, clients=70, positions=8))
    await reporting.caught_up()
    api = (await reporting.client.get("/indicators", params=QUERY, headers=auth())).json()
    periods = [p["period"] for p in api["periods"]]
    cells, last = api["cells"], periods[-1]
    token = auth("auditor-1")["Authorization"].split()[1]

    async with served(reporting.app) as base, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = await browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
            await page.goto(f"{base}/dashboard?period=quarter&from=2024-01-01&to=2025-06-30#token={token}")
            await page.wait_for_selector("body[data-ready=true]", timeout=30_000)
            assert not errors, errors

            async def chart(chart_id: str) -> dict:
                return await page.evaluate(
                    """id => { const c = Chart.getChart(id); const ctx = c.ctx;
                       const px = ctx.getImageData(0, 0, c.width, c.height).data;
                       let ink = 0; for (let i = 3; i < px.length; i += 4) if (px[i]) ink++;
                       return {labels: c.data.labels, ink,
                               datasets: c.data.datasets.map(d => ({label: d.label, data: d.data}))}; }""",
                    chart_id)

            active = await chart("chart-active")
            assert active["labels"] == periods and active["ink"] > 1000
            expected = by_period(cells, "active_cases")
            assert active["datasets"][0]["data"] == [expected.get(p) for p in periods]

            for chart_id, indicator in (("chart-intakes", "intakes"), ("chart-closures", "closures"),
                                        ("chart-improvements", "status_improvements")):
                drawn = await chart(chart_id)
                assert drawn["ink"] > 1000, f"{chart_id} is blank"
                shown = {d["label"]: d["data"] for d in drawn["datasets"] if d["label"] != "Einbürgerungen"}
                dims = {next(iter(c["dimensions"].values())) for c in cells if c["indicator"] == indicator}
                assert set(shown) == dims and dims
                for dim, data in shown.items():
                    values = by_period(cells, indicator, dim)
                    assert data == [values.get(p) for p in periods], (chart_id, dim)

            referrals = await chart("chart-referrals")
            partners = sorted({c["dimensions"]["partner"] for c in cells if c["indicator"] == "referrals"})
            assert referrals["labels"] == partners and referrals["ink"] > 1000
            counts = {p: by_period(cells, "referrals", p).get(last) for p in partners}
            assert referrals["datasets"][0]["data"] == [counts[p] for p in partners]
            rates = {p: by_period(cells, "referral_acceptance_rate", p).get(last) for p in partners}
            assert referrals["datasets"][1]["data"] == [None if rates[p] is None else rates[p] * 100 for p in partners]

            vza = await chart("chart-vza")
            for dataset, indicator in zip(vza["datasets"], ("vza_granted", "vza_positions", "vza_filled"), strict=True):
                values = by_period(cells, indicator)
                assert dataset["data"] == [values.get(p) for p in periods] and any(dataset["data"])

            lag = await chart("chart-lag")
            assert set(lag["labels"]) == {"reporting_cases", "reporting_referrals", "reporting_staffing",
                                          "reporting_reports"}
            assert lag["datasets"][0]["data"] == [0, 0, 0, 0]

            rows = await page.eval_on_selector_all(
                "#figures tbody tr", "rows => rows.map(r => [r.dataset.indicator, r.dataset.dim, r.dataset.value])")
            latest = [c for c in cells if c["period"] == last]
            assert len(rows) == len(latest)
            for (indicator, dim, value), cell in zip(rows, latest, strict=True):
                assert indicator == cell["indicator"] and dim == next(iter(cell["dimensions"].values()), "")
                assert value == ("suppressed" if cell["suppressed"] else str(cell["value"]).removesuffix(".0"))
            assert any(v == "suppressed" for _, _, v in rows)
        finally:
            await browser.close()
