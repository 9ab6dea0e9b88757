"""With the real cases service: its commands, through its outbox and the real kim.cases topic, become figures here.

Both services run in-process on their own databases. Other tests write to kim.cases too, so every figure is read for
a municipality code no other test uses.
"""

from __future__ import annotations

import contextlib
import random
import uuid
from datetime import date

import asyncpg
import httpx
import pytest

from kim_cases.bootstrap import build_app as build_cases
from kim_cases.settings import CasesSettings
from kim_cli.stack import create_database, drop_database
from kim_reporting.bootstrap import build_app as build_reporting
from kim_reporting.settings import ReportingSettings
from kim_runtime.auth import Principal, Role, issue_token
from kim_runtime.types import KREIS_UNNA_MUNICIPALITIES

from ..cases.kafka_tail import records_of
from ..runtime.harness import eventually

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
SECRET = "shared-secret-of-both-services-0123456789"
ADMIN = {"Authorization": "Bearer " + issue_token(SECRET, Principal(sub="admin-1", role=Role.ADMIN))}


@contextlib.asynccontextmanager
async def in_process(app, name: str):
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{name}") as client:
            yield client


async def test_cases_opened_and_closed_in_the_cases_service_are_counted(stack, fresh_db, kafka_bootstrap):
    reporting_db = f"kim_test_{uuid.uuid4().hex[:16]}"
    await create_database(stack.postgres_url, reporting_db)
    ags = f"0597{random.randrange(9000, 10000)}"  # a municipality of its own for this test (so both serve it)
    served = {"municipalities": (*KREIS_UNNA_MUNICIPALITIES, ags)}
    today = date.today().isoformat()
    try:
        cases_app = build_cases(CasesSettings(database_url=fresh_db, kafka_bootstrap=kafka_bootstrap,
                                              auth_secret=SECRET, **served))
        reporting_app = build_reporting(ReportingSettings(database_url=stack.database_url(reporting_db),
                                                          kafka_bootstrap=kafka_bootstrap, auth_secret=SECRET,
                                                          **served),
                                        cases_transport=httpx.ASGITransport(app=cases_app))
        async with in_process(cases_app, "cases") as cases, in_process(reporting_app, "reporting") as reporting:
            case_ids = []
            for n in range(6):
                client = await cases.post("/clients", json={"name": f"Client {n}", "languages": ["ar"]},
                                          headers=ADMIN)
                assert client.status_code == 201, client.text
                opened = await cases.post("/cases", headers=ADMIN, json={
                    "client_id": client.json()["client_id"], "municipality": ags, "team": "stadt",
                    "team_organisation_id": "stadt-test", "access_channel": "jobcenter", "opened_on": today})
                assert opened.status_code == 201, opened.text
                case_ids.append(opened.json()["case_id"])
            closed = await cases.post(f"/cases/{case_ids[0]}/closure", json={"reason": "wegzug"}, headers=ADMIN)
            assert closed.status_code == 200, closed.text

            async def figures():
                response = await reporting.get("/indicators", headers=ADMIN, params={
                    "period": "month", "from": today, "to": today, "municipality": ags,
                    "indicator": ["intakes", "active_cases", "closures"]})
                cells = {c["indicator"]: c for c in response.json()["cells"]}
                done = cells.get("intakes", {}).get("value") == 6 and "closures" in cells
                return cells if done else None

            cells = await eventually(figures, timeout=90)
            assert cells["intakes"]["dimensions"] == {"access_channel": "jobcenter"}
            # 5 active cases: shown, unless complementary suppression hides the cell to protect a small cell of
            # another municipality (the broker holds other tests' cases, and the pattern covers every municipality)
            active = cells["active_cases"]
            assert active["value"] == 5 or (active["suppressed"] and active["value"] is None), active
            conn = await asyncpg.connect(stack.database_url(reporting_db))
            try:  # what the projection counted, before any suppression
                assert await conn.fetchval("SELECT count(*) FROM reporting_cases.cases WHERE municipality_at_open = "
                                           "$1 AND closed_on IS NULL", ags) == 5
            finally:
                await conn.close()
            assert cells["closures"]["suppressed"] and cells["closures"]["value"] is None  # one person
    finally:
        await drop_database(stack.postgres_url, reporting_db)


async def test_figures_stay_when_retention_destroys_the_clients_keys(stack, fresh_db, kafka_bootstrap):
    """Issue 19: retention shreds the clients (ClientErased, reason aufbewahrungsfrist) a year after their cases
    closed (clock moved, never waited for). Since issue 15 (sealed dates and codes) reporting deletes the erased
    clients' per-case rows and counts the others as before."""
    from datetime import UTC, datetime

    from kim_cases.application.deadlines import plus_years
    from kim_runtime.scheduler import ManualClock, start_of

    from tests.scheduling import settled

    reporting_db = f"kim_test_{uuid.uuid4().hex[:16]}"
    await create_database(stack.postgres_url, reporting_db)
    ags = f"0597{random.randrange(9000, 10000)}"
    served = {"municipalities": (*KREIS_UNNA_MUNICIPALITIES, ags)}
    today = date.today()
    clock = ManualClock(datetime.now(UTC))
    try:
        cases_app = build_cases(CasesSettings(database_url=fresh_db, kafka_bootstrap=kafka_bootstrap,
                                              auth_secret=SECRET, retention_years_by_reason="wegzug=1", **served))
        cases_app.state.runtime.clock = clock
        reporting_app = build_reporting(ReportingSettings(database_url=stack.database_url(reporting_db),
                                                          kafka_bootstrap=kafka_bootstrap, auth_secret=SECRET,
                                                          **served),
                                        cases_transport=httpx.ASGITransport(app=cases_app))
        async with in_process(cases_app, "cases") as cases, in_process(reporting_app, "reporting") as reporting:
            for n in range(6):
                client = await cases.post("/clients", json={"name": f"Client {n}", "languages": ["ar"]},
                                          headers=ADMIN)
                opened = await cases.post("/cases", headers=ADMIN, json={
                    "client_id": client.json()["client_id"], "municipality": ags, "team": "stadt",
                    "team_organisation_id": "stadt-test", "access_channel": "jobcenter",
                    "opened_on": today.isoformat()})
                closed = await cases.post(f"/cases/{opened.json()['case_id']}/closure", headers=ADMIN,
                                          json={"reason": "wegzug" if n % 2 else "abbruch"})
                assert closed.status_code == 200, closed.text

            async def figures():
                response = await reporting.get("/indicators", headers=ADMIN, params={
                    "period": "month", "from": today.isoformat(), "to": today.isoformat(), "municipality": ags,
                    "indicator": ["intakes", "closures"]})
                return sorted(response.json()["cells"], key=lambda c: (c["indicator"], str(c["dimensions"])))

            async def counted():
                cells = await figures()
                return cells if any(c["indicator"] == "intakes" and c["value"] == 6 for c in cells) else None
            before = await eventually(counted, timeout=90)

            clock.set(start_of(plus_years(today, 1)))  # wegzug: 1 year; abbruch: the default 3
            await settled(cases_app.state.runtime.scheduler)
            async with cases_app.state.runtime.pool.acquire() as conn:
                erased = await conn.fetchval("SELECT count(*) FROM events WHERE type = 'kim.cases.ClientErased' "
                                             "AND data->>'reason' = 'aufbewahrungsfrist'")
                assert erased == 3

            # reporting has read past every ClientErased record on kim.cases (its checkpoints reach their offsets)
            async with cases_app.state.runtime.pool.acquire() as conn:
                clients = {r["stream_id"] for r in await conn.fetch(
                    "SELECT stream_id FROM events WHERE type = 'kim.cases.ClientErased'")}
            records = await records_of(kafka_bootstrap, "kim.cases", clients, at_least=len(clients) * 2)
            erasures = [m for m in records if dict(m.headers).get("ce_type") == b"kim.cases.ClientErased"]
            assert len(erasures) == 3

            async def erasures_read():
                conn = await asyncpg.connect(stack.database_url(reporting_db))
                try:
                    done = {(r["partition"]): r["offset"] for r in await conn.fetch(
                        "SELECT partition, max(\"offset\") AS offset FROM checkpoints WHERE topic = 'kim.cases' "
                        "GROUP BY partition")}
                finally:
                    await conn.close()
                return all(done.get(m.partition, -1) >= m.offset for m in erasures)
            await eventually(erasures_read, timeout=90)
            # issue 15: reporting forgets an erased client's cases (their dates and codes single the person out);
            # the clients that were not erased are counted exactly as before
            conn = await asyncpg.connect(stack.database_url(reporting_db))
            try:
                left = {r["client_id"] for r in await conn.fetch(
                    "SELECT client_id FROM reporting_cases.cases WHERE municipality_at_open = $1", ags)}
                kept_timeline = await conn.fetchval(
                    "SELECT count(*) FROM reporting_cases.case_timeline t JOIN reporting_cases.cases c USING (case_id) "
                    "WHERE c.municipality_at_open = $1", ags)
            finally:
                await conn.close()
            assert len(left) == 3 and not left & clients, "every row of an erased client's cases is deleted"
            assert kept_timeline == 6  # opened and closed, for each of the 3 clients kept
            assert before  # the figures were there before the erasure (counted() waited for 6 intakes)
    finally:
        await drop_database(stack.postgres_url, reporting_db)
