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


def _token(sub: str, role: Role, **claims) -> dict[str, str]:
    return {"Authorization": "Bearer " + issue_token(SECRET, Principal(sub=sub, role=role, **claims))}


def _service(sub: str) -> dict[str, str]:
    from kim_runtime.auth import service_token
    from kim_runtime.settings import DEV_SERVICE_TOKEN_SECRET

    return {"Authorization": "Bearer " + service_token(DEV_SERVICE_TOKEN_SECRET, sub)}


async def test_reporting_opens_sealed_dates_with_its_own_key_and_forgets_an_erased_client(
        stack, fresh_db, kafka_bootstrap):
    """Issue 15 item 5: the dates and codes of kim.cases are sealed per client; reporting gets each client's sealing
    key from the cases service's internal path (its own token only), counts the cases, and after an erasure keeps
    no row, date or code of the erased client's case while the other client's figures stay; a replay cannot open
    the erased client's events: they are skipped and counted, never dead-lettered."""
    from kim_reporting.adapters.projections.cases import CasesProjection
    from kim_reporting.adapters.sealing_keys import SealingKeys
    from kim_runtime.settings import DEV_SERVICE_TOKEN_SECRET
    from kim_runtime.consumer import RecordRef, decode

    reporting_db = f"kim_test_{uuid.uuid4().hex[:16]}"
    await create_database(stack.postgres_url, reporting_db)
    ags = f"0597{random.randrange(9000, 10000)}"
    served = {"municipalities": (*KREIS_UNNA_MUNICIPALITIES, ags)}
    opened_on = {"kept": "2021-04-13", "erased": "2021-04-14"}
    try:
        cases_app = build_cases(CasesSettings(database_url=fresh_db, kafka_bootstrap=kafka_bootstrap,
                                              auth_secret=SECRET, **served))
        transport = httpx.ASGITransport(app=cases_app)
        reporting_app = build_reporting(ReportingSettings(database_url=stack.database_url(reporting_db),
                                                          kafka_bootstrap=kafka_bootstrap, auth_secret=SECRET,
                                                          **served), cases_transport=transport)
        async with in_process(cases_app, "cases") as cases, in_process(reporting_app, "reporting") as reporting:
            ids = {}
            for who in ("kept", "erased"):
                client = (await cases.post("/clients", json={"name": f"Client {who}"}, headers=ADMIN)).json()
                opened = await cases.post("/cases", headers=ADMIN, json={
                    "client_id": client["client_id"], "municipality": ags, "team": "stadt",
                    "team_organisation_id": "stadt-test", "access_channel": "schule", "opened_on": opened_on[who]})
                assert opened.status_code == 201, opened.text
                ids[who] = (client["client_id"], opened.json()["case_id"])

            # the internal path: the reporting service's token only; no existence oracle for anyone else
            path = f"/internal/clients/{ids['kept'][0]}/sealing-key"
            unknown = f"/internal/clients/{uuid.uuid4()}/sealing-key"
            refused = [ADMIN, _token("cm-1", Role.CASE_MANAGER, team="stadt-test", municipality=ags),
                       _token("tl-1", Role.TEAM_LEAD, team="stadt-test", municipality=ags),
                       _token("aud-1", Role.AUDITOR), _token("p-1", Role.PARTNER, organisation="jc-unna"),
                       _service("kim-referrals"), _service("kim-staffing"), _service("kim-cases")]
            for who in refused:
                for url in (path, unknown):
                    assert (await cases.get(url, headers=who)).status_code == 403, (who, url)
            assert (await cases.get(path)).status_code == 401 and (await cases.get(unknown)).status_code == 401
            key = await cases.get(path, headers=_service("kim-reporting"))
            assert key.status_code == 200 and set(key.json()) == {"client_id", "key_id", "sealing_key"}
            assert (await cases.get(unknown, headers=_service("kim-reporting"))).status_code == 410

            async def rows() -> dict[str, list[str]]:
                conn = await asyncpg.connect(stack.database_url(reporting_db))
                try:
                    out = {}
                    for table in ("cases", "case_timeline"):
                        out[table] = [str({k: str(v) for k, v in r.items()}) for r in await conn.fetch(
                            f"SELECT * FROM reporting_cases.{table} WHERE case_id = ANY($1)",
                            [ids["kept"][1], ids["erased"][1]])]
                    return out
                finally:
                    await conn.close()

            async def both_counted():
                found = await rows()
                return found if len(found["cases"]) == 2 and len(found["case_timeline"]) == 2 else None

            before = await eventually(both_counted, timeout=90)
            assert any(opened_on["erased"] in r and "schule" in r for r in before["cases"])  # opened with its key

            erased = await cases.post(f"/clients/{ids['erased'][0]}/erasure", headers=ADMIN | {"If-Match": '"1"'},
                                      json={"ground": "zweck_entfallen", "request_reference": "DSGVO-15-5"})
            assert erased.status_code == 200, erased.text
            assert (await cases.get(f"/internal/clients/{ids['erased'][0]}/sealing-key",
                                    headers=_service("kim-reporting"))).status_code == 410

            async def forgotten():
                found = await rows()
                return found if len(found["cases"]) == 1 else None

            after = await eventually(forgotten, timeout=90)
            text = str(after)
            assert ids["erased"][1] not in text and opened_on["erased"] not in text
            assert after["cases"] == [r for r in before["cases"] if ids["kept"][1] in r]  # the other one unchanged
            assert after["case_timeline"] == [r for r in before["case_timeline"] if ids["kept"][1] in r]

            # a replay: the erased client's kim.cases records, applied by a fresh projection, are skipped and counted
            records = await records_of(kafka_bootstrap, "kim.cases", {ids["erased"][1], ids["kept"][1]}, at_least=2)
            envelopes = [decode(RecordRef(m.topic, m.partition, m.offset, m.key, m.value, m.headers))
                         for m in records]
            assert all(e.data.get("sealed") for e in envelopes) and not any(
                opened_on["erased"] in str(e.data) for e in envelopes)
            replay = CasesProjection(["kim.cases"])
            replay.use_keys(SealingKeys("http://cases", DEV_SERVICE_TOKEN_SECRET, transport))
            conn = await asyncpg.connect(stack.database_url(reporting_db))
            try:
                await replay.create_schema(conn, "replay_check")
                await replay.apply_batch(conn, '"replay_check"', envelopes)
                replayed = [dict(r) for r in await conn.fetch('SELECT * FROM "replay_check".cases')]
                await conn.execute('DROP SCHEMA "replay_check" CASCADE')
            finally:
                await conn.close()
            assert replay.skipped_erased == 1
            assert [r["case_id"] for r in replayed] == [ids["kept"][1]]
            assert str(replayed[0]["opened_on"]) == opened_on["kept"]
    finally:
        await drop_database(stack.postgres_url, reporting_db)
