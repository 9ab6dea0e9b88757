"""Issue 15: "a receipt that cannot be written is only logged". A read of personal data is sealed at once by a signed
receipt in the anchor file and on the anchor topic (kim_runtime.anchor.Receipts); when the receipt cannot be written
the read is not answered: 503 with Retry-After and nothing shown (kim_runtime.errors.NotSealed). The read itself
stays recorded in the client's access log, and the next anchor seals it. Here the anchor file is unavailable (its
folder is a regular file), for the cases API, GET /audit/cases/{id} and `kim audit case --show-personal`."""

from __future__ import annotations

import json

import httpx
import pytest

from kim_runtime import db

from . import cli
from .test_audit_case import AUDITOR, MANAGER, NAME, SECRET, _bearer, _post

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def _access_versions(url: str, client_id: str) -> int:
    conn = await db.connect(url)
    try:
        return await conn.fetchval("SELECT count(*) FROM events WHERE stream_id = $1", f"access-{client_id}")
    finally:
        await conn.close()


async def test_a_read_whose_receipt_cannot_be_written_is_refused_503_and_shows_nothing(
        fresh_db, kafka_bootstrap, tmp_path, monkeypatch):
    from kim_cases.bootstrap import build_app
    from kim_cases.settings import CasesSettings

    blocker = tmp_path / "anchors"
    blocker.write_text("a file where the anchor folder should be\n")
    folder = blocker / "cases"  # its parent is a file: the anchor file cannot be written
    app = build_app(CasesSettings(database_url=fresh_db, kafka_bootstrap=kafka_bootstrap, auth_secret=SECRET,
                                  audit_anchor_dir=folder))
    async with app.router.lifespan_context(app), cli.listening(app) as url:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cases") as http:
            client_id = (await _post(http, "/clients", {"name": NAME, "date_of_birth": "1990-04-02"}))["client_id"]
            case_id = (await _post(http, "/cases", {
                "client_id": client_id, "municipality": "05978024", "team": "stadt",
                "team_organisation_id": "stadt-luenen", "access_channel": "jobcenter",
                "opened_on": "2025-01-10"}))["case_id"]

            refused = [await http.get(f"/clients/{client_id}", headers=MANAGER),
                       await http.get(f"/audit/cases/{case_id}", params={"personal": "true"}, headers=AUDITOR)]
            for r in refused:
                assert r.status_code == 503, r.text
                assert r.headers["Retry-After"] == "2" and r.headers["content-type"] == "application/problem+json"
                assert NAME not in r.text and r.json()["type"] == "urn:kim:problem:not-sealed", r.text
            nowhere = fresh_db.rsplit("/", 1)[0] + "/kim_no_such_db"
            env = cli.environment(KIM_CASES_DATABASE_URL=fresh_db, KIM_STAFFING_DATABASE_URL=nowhere,
                                  KIM_REFERRALS_DATABASE_URL=nowhere, KIM_REPORTING_DATABASE_URL=nowhere,
                                  KIM_AUTH_SECRET=SECRET, KIM_TOKEN=_bearer(AUDITOR), KIM_CASES_URL=url)
            code, out, err = await cli.run("audit", "case", case_id, "--show-personal", env=env)
            assert (code, out) == (2, "") and NAME not in err, err
            assert "(503: " in err and "retry after 2 s" in err and "nothing was shown" in err, err
            # the reads were recorded (the GET /clients read, the API's and the CLI's audit reads), not answered
            assert await _access_versions(fresh_db, client_id) == 3
            print(f"\nrefused unsealed: {refused[0].status_code} Retry-After {refused[0].headers['Retry-After']}: "
                  f"{refused[0].json()['detail']}\nkim audit case --show-personal: exit {code}: {err.strip()}")

            # the anchor folder is back: the same read is answered, and its receipt is in the anchor file
            blocker.unlink()
            r = await http.get(f"/clients/{client_id}", headers=MANAGER)
            assert r.status_code == 200 and r.json()["personal"]["name"] == NAME, r.text
            code, out, err = await cli.run("audit", "case", case_id, "--show-personal", "--format", "json", env=env)
            assert code == 0 and NAME in out, err
    receipts = [json.loads(line) for line in (folder / "cases.jsonl").read_text().splitlines()]
    sealed = {(x["body"]["stream_id"], x["body"]["version"]) for x in receipts if x["kind"] == "receipt"}
    assert {(f"access-{client_id}", 4), (f"access-{client_id}", 5)} <= sealed, sealed
