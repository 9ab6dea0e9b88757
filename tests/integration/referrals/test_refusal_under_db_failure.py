"""A refused referral whose decision (kim.referrals.ConsentChecked) cannot be written because the database fails
just then: the request answers 503 with Retry-After as a problem (application/problem+json), never 500, and leaves
nothing half-written (no ConsentChecked, no outbox row, no referral). The failure is injected in the database itself:
a trigger on the insert of a refusal's stream that ends the writing session (the connection is lost mid-write, as
in a restart or failover), or that fails the insert with an error of the server's resources (disk full)."""

from __future__ import annotations

import pytest
from kim_runtime import db

from .support import CASE_MANAGER, CasesStandIn, ensure_topics, eventually, new_org, register
from .support import referrals_service as service

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

FAILURES = {
    # the session that writes the refusal is terminated mid-insert: the connection is gone
    "connection lost": "PERFORM pg_terminate_backend(pg_backend_pid());",
    # the server cannot write (53100 disk_full): a failure of the database, not of the request
    "disk full": "RAISE EXCEPTION 'injected: could not extend file' USING ERRCODE = '53100';",
}


async def _inject(dsn: str, failure: str | None) -> None:
    conn = await db.connect(dsn)
    try:
        if failure is None:
            await conn.execute("DROP TRIGGER IF EXISTS inject_refusal_failure ON events")
            return
        await conn.execute(f"""
            CREATE OR REPLACE FUNCTION inject_refusal_failure() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
            BEGIN
                IF NEW.stream_id LIKE 'consent-check-%' THEN {FAILURES[failure]} END IF;
                RETURN NEW;
            END $$;
            DROP TRIGGER IF EXISTS inject_refusal_failure ON events;
            CREATE TRIGGER inject_refusal_failure BEFORE INSERT ON events
                FOR EACH ROW EXECUTE FUNCTION inject_refusal_failure();""")
    finally:
        await conn.close()


async def _counts(dsn: str) -> tuple[int, int, int]:
    conn = await db.connect(dsn)
    try:
        return (await conn.fetchval("SELECT count(*) FROM events WHERE type = 'kim.referrals.ConsentChecked'"),
                await conn.fetchval("SELECT count(*) FROM outbox"),
                await conn.fetchval("SELECT count(*) FROM events WHERE type = 'kim.referrals.ReferralRequested'"))
    finally:
        await conn.close()


async def test_a_refusal_that_cannot_be_recorded_answers_503_and_writes_nothing(fresh_db, kafka_bootstrap):
    await ensure_topics(kafka_bootstrap, "kim.cases", "kim.referrals")
    abh = new_org("abh")
    async with service(fresh_db, kafka_bootstrap) as client, CasesStandIn(kafka_bootstrap) as cases:
        await register(client, abh, "abh")
        case_id, _ = await cases.open_case()
        body = {"case_id": case_id, "to_organisation_id": abh, "purpose": "aufenthaltssicherung",
                "data_categories": ["aufenthalt"]}

        async def refused_as_no_consent():  # the case has reached the gate: refused for want of a consent
            r = await client.post("/referrals", headers=CASE_MANAGER, json=body)
            return r if r.status_code == 409 else None

        await eventually(refused_as_no_consent)
        before = await _counts(fresh_db)
        for failure in FAILURES:
            await _inject(fresh_db, failure)
            try:
                for _ in range(3):  # again and again: every attempt answers the same, nothing piles up
                    r = await client.post("/referrals", headers=CASE_MANAGER, json=body)
                    assert r.status_code == 503, f"{failure}: {r.status_code} {r.text}"
                    assert r.headers["content-type"].startswith("application/problem+json"), failure
                    assert int(r.headers["Retry-After"]) > 0
                    problem = r.json()
                    assert problem["status"] == 503 and "retry" in problem["detail"], problem
                    assert "consent" in problem["detail"], problem  # says what could not be done
            finally:
                await _inject(fresh_db, None)
            assert await _counts(fresh_db) == before, f"{failure}: something was half-written"
        # the database is back: the same request is refused (409) and its decision recorded, once
        r = await client.post("/referrals", headers=CASE_MANAGER, json=body)
        assert r.status_code == 409 and r.json()["missing"] == [f"case {case_id} has no consent recorded"]
        checked, outbox, requested = await _counts(fresh_db)
        assert (checked, requested) == (before[0] + 1, before[2]) and outbox == before[1] + 1
