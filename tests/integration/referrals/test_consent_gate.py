"""The consent gate on the real stack: refusals name what is missing; withdrawal and case closure revoke."""

from __future__ import annotations

import asyncio
from datetime import date

import asyncpg
import httpx
import pytest
from kim_runtime import db
from kim_runtime.topics import partner_topic
from kim_schemas.cases import CaseClosed

from .support import (
    consented_case,
    CASE_MANAGER, CasesStandIn, PartnerTopicReader, consent_known, ensure_topics, eventually, new_org, partner,
    register,
)
from .support import STAND_IN_DECISIONS
from .support import referrals_service as service

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def referral(case_id: str, org: str, categories=("aufenthalt",), purpose="aufenthaltssicherung") -> dict:
    return {"case_id": case_id, "to_organisation_id": org, "purpose": purpose, "data_categories": list(categories)}


async def state_of(client, rid: str, wanted: str) -> dict:
    async def check():
        body = (await client.get(f"/referrals/{rid}", headers=CASE_MANAGER)).json()
        return body if body["state"] == wanted else None
    return await eventually(check)


async def test_a_referral_without_a_covering_consent_is_refused_with_what_is_missing(fresh_db, kafka_bootstrap):
    await ensure_topics(kafka_bootstrap, "kim.cases", "kim.referrals")
    abh, jobcenter = new_org("abh"), new_org("jc")
    async with service(fresh_db, kafka_bootstrap) as client, CasesStandIn(kafka_bootstrap) as cases:
        await register(client, abh, "abh")
        await register(client, jobcenter)
        case_id, client_id = await cases.open_case()
        await eventually(lambda: _case_known(client, case_id, abh))
        r = await client.post("/referrals", headers=CASE_MANAGER, json=referral(case_id, abh))
        assert (r.status_code, r.json()["missing"]) == (409, [f"case {case_id} has no consent recorded"])

        consent_id = await cases.grant(case_id, client_id, recipients=[jobcenter],
                                       purposes=["arbeitsmarktintegration"], categories=["arbeit_qualifikation"])
        await consent_known(client, case_id, consent_id)
        r = await client.post("/referrals", headers=CASE_MANAGER,
                              json=referral(case_id, abh, ["aufenthalt", "gesundheit"]))
        assert r.status_code == 409
        missing = " ".join(r.json()["missing"])
        for piece in (f"recipient {abh}", "purpose aufenthaltssicherung", "aufenthalt, gesundheit"):
            assert piece in missing
        assert "Record a matching consent" in r.json()["detail"]
        assert (await client.get(f"/cases/{case_id}/referrals", headers=CASE_MANAGER)).json() == []
        r = await client.post("/referrals", headers=CASE_MANAGER, json=referral(case_id, "nobody-registered"))
        assert r.status_code == 404 and "not registered" in r.json()["detail"]
        r = await client.post("/referrals", headers=CASE_MANAGER, json=referral(case_id, abh, categories=[]))
        assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["data_categories"]

    # each refusal is recorded as the gate decided it, in a stream of its own (the 404 and the 422 decided nothing);
    # the first is _case_known's probe, refused like the request after it
    conn = await db.connect(fresh_db)
    try:
        rows = await conn.fetch("SELECT stream_id, version, data FROM events WHERE type = "
                                "'kim.referrals.ConsentChecked' ORDER BY position")
    finally:
        await conn.close()
    assert [(r["stream_id"].startswith("consent-check-"), r["version"]) for r in rows] == [(True, 1)] * 3
    none, scoped = rows[1]["data"], rows[2]["data"]
    assert rows[0]["data"]["reasons"] == none["reasons"]
    assert (none["met"], none["consent_id"], none["reasons"]) == (False, None, [f"case {case_id} has no consent recorded"])
    assert (scoped["met"], scoped["consent_id"], scoped["recipient"], scoped["purpose"]) == (
        False, consent_id, abh, "aufenthaltssicherung")
    assert (scoped["categories_required"], scoped["categories_granted"], scoped["recipients_granted"]) == (
        ["aufenthalt", "gesundheit"], ["arbeit_qualifikation"], [jobcenter])
    assert scoped["referral_id"] is None and len(scoped["reasons"]) == 3 and scoped["checked_on"]


async def _case_known(client, case_id: str, org: str) -> bool:
    r = await client.post("/referrals", headers=CASE_MANAGER, json=referral(case_id, org))
    return r.status_code != 404


async def test_withdrawal_revokes_open_referrals_to_that_recipient_and_the_partner_is_told_to_purge(
    fresh_db, kafka_bootstrap
):
    await ensure_topics(kafka_bootstrap, "kim.cases", "kim.referrals")
    abh, jobcenter = new_org("abh"), new_org("jc")
    async with service(fresh_db, kafka_bootstrap) as client, CasesStandIn(kafka_bootstrap) as cases:
        await register(client, abh, "abh")
        await register(client, jobcenter)
        case_id, client_id = await cases.open_case()
        consent_id = await cases.grant(case_id, client_id, recipients=[abh, jobcenter],
                                       purposes=["aufenthaltssicherung"], categories=["aufenthalt"])
        await consent_known(client, case_id, consent_id)
        to_abh = (await client.post("/referrals", headers=CASE_MANAGER, json=referral(case_id, abh))).json()
        to_jc = (await client.post("/referrals", headers=CASE_MANAGER, json=referral(case_id, jobcenter))).json()
        abh_id = to_abh["partner_referral_id"]
        accepted = await client.post(f"/partner/referrals/{abh_id}/accept", headers=partner(abh))
        assert accepted.status_code == 200

        await cases.withdraw(case_id, client_id, consent_id, scope="empfaenger", recipient=abh)
        revoked = await state_of(client, to_abh["referral_id"], "revoked")
        assert revoked["revocation_reason"] == "einwilligung_widerrufen"
        async with PartnerTopicReader(kafka_bootstrap, partner_topic(abh)) as agency:
            records = await agency.wait_for(lambda m: m["key"] == abh_id
                                            and m["headers"]["ce_type"] == "kim.partner.PartnerReferralRevoked")
            purge = next(m for m in records if m["headers"]["ce_type"] == "kim.partner.PartnerReferralRevoked")
            assert purge["data"]["purge"] is True and purge["data"]["reason"] == "einwilligung_widerrufen"
            records = await agency.wait_for(lambda m: m["key"] == abh_id and m["tombstone"])
            mine = [m for m in records if m["key"] == abh_id]  # offer, accepted, notice, tombstone
            assert [m["headers"]["ce_type"].rsplit(".", 1)[1] for m in mine] == [
                "PartnerReferralSealedSnapshot", "PartnerReferralSealedSnapshot", "PartnerReferralRevoked",
                "PartnerReferralTombstone"]
            assert [m["headers"]["ce_streamversion"] for m in mine] == ["1", "2", "3", "4"]
            assert mine[-1]["raw"] == b"" and mine[-1]["tombstone"]  # null value: compaction drops the key

        gone = await client.get(f"/partner/referrals/{abh_id}", headers=partner(abh))
        assert gone.status_code == 410 and gone.headers["content-type"] == "application/problem+json"
        assert gone.json() == {**gone.json(), "reason": "einwilligung_widerrufen", "purge": True, "status": 410}
        assert "client_pseudonym" not in gone.json() and "purpose" not in gone.json()
        key = await client.get(f"/partner/referrals/{abh_id}/key", headers=partner(abh))  # destroyed with the revocation
        assert key.status_code == 410 and key.json()["reason"] == "einwilligung_widerrufen" and "key" not in key.json()
        assert abh_id not in [r["referral_id"] for r in
                              (await client.get("/partner/referrals", headers=partner(abh))).json()]
        late = await client.post(f"/partner/referrals/{abh_id}/appointment", headers=partner(abh),
                                 json={"appointment_on": "2025-04-01"})
        assert late.status_code == 410 and "revoked" in late.json()["detail"]
        # the other recipient's referral rests on the same consent but was not withdrawn from
        assert (await client.get(f"/referrals/{to_jc['referral_id']}", headers=CASE_MANAGER)).json()["state"] == (
            "requested")
        again = await client.post("/referrals", headers=CASE_MANAGER, json=referral(case_id, abh))
        assert again.status_code == 409 and f"withdrawn for recipient {abh}" in again.text


async def test_case_closure_closes_the_open_referrals_of_the_case(fresh_db, kafka_bootstrap):
    await ensure_topics(kafka_bootstrap, "kim.cases", "kim.referrals")
    jobcenter = new_org("jc")
    async with service(fresh_db, kafka_bootstrap) as client, CasesStandIn(kafka_bootstrap) as cases:
        await register(client, jobcenter)
        case_id, client_id, consent_id = await consented_case(
            client, cases, jobcenter, purposes=["aufenthaltssicherung"], categories=["aufenthalt"])
        rid = (await client.post("/referrals", headers=CASE_MANAGER, json=referral(case_id, jobcenter))).json()[
            "referral_id"]
        await cases.emit(CaseClosed(case_id=case_id, reason="ziele_erreicht",
                                    closed_on=date(2025, 6, 30), goals_agreed=2, goals_achieved=1,
                                    duration_days=149), subject=client_id)
        closed = await state_of(client, rid, "closed")
        assert closed["revocation_reason"] == "fall_abgeschlossen"
        refused = await client.post("/referrals", headers=CASE_MANAGER, json=referral(case_id, jobcenter))
        assert refused.status_code == 409 and "closed" in refused.json()["detail"]


async def test_no_referral_made_while_a_withdrawal_arrives_survives_it(fresh_db, kafka_bootstrap):
    """Requests lock the consent they rest on; the withdrawal waits for them and then sees (and revokes) them.
    The worst case: every answer of the cases service says the consent still holds (each given just before the
    withdrawal), so only the referrals service's handling of kim.cases stops the requests: those committed first are
    revoked, those after are refused by the consent's row."""
    await ensure_topics(kafka_bootstrap, "kim.cases", "kim.referrals")
    jobcenter = new_org("jc")
    async with service(fresh_db, kafka_bootstrap) as client, CasesStandIn(kafka_bootstrap) as cases:
        await register(client, jobcenter)
        case_id, client_id, consent_id = await consented_case(
            client, cases, jobcenter, purposes=["aufenthaltssicherung"], categories=["aufenthalt"])

        made = asyncio.Event()

        async def keep_referring() -> list[int]:
            codes = []
            for _ in range(40):
                r = await client.post("/referrals", headers=CASE_MANAGER, json=referral(case_id, jobcenter))
                codes.append(r.status_code)
                if r.status_code == 201:
                    made.set()
                if r.status_code == 409:
                    break
            return codes

        referring = [asyncio.create_task(keep_referring()) for _ in range(4)]
        # the withdrawal arrives while requests are in flight, after the first referral was made (on a loaded machine
        # the withdrawal could otherwise be handled before any request, and the test would prove nothing)
        await asyncio.wait_for(made.wait(), timeout=60)
        await cases.withdraw(case_id, client_id, consent_id, decided_on=False)
        codes = [c for t in referring for c in await t]
        assert 201 in codes

        async def all_revoked():
            rows = (await client.get(f"/cases/{case_id}/referrals", headers=CASE_MANAGER)).json()
            return rows if rows and all(r["state"] == "revoked" for r in rows) else None
        rows = await eventually(all_revoked)
        assert len(rows) == codes.count(201)
        refused = await client.post("/referrals", headers=CASE_MANAGER, json=referral(case_id, jobcenter))
        assert refused.status_code == 409 and "withdrawn" in refused.text


class _LockProbe(httpx.AsyncBaseTransport):
    """Between the referrals service and the cases stand-in: while the consent decision is asked, try to lock the
    case's and the client's gate rows from another connection (NOWAIT), to see whether the request holds them."""

    def __init__(self, dsn: str):
        self.dsn, self.inner, self.held = dsn, httpx.ASGITransport(app=STAND_IN_DECISIONS.app), []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        case_id = request.url.path.split("/")[3]
        conn = await db.connect(self.dsn)
        try:
            async with conn.transaction():
                try:
                    await conn.execute("SET LOCAL lock_timeout = '100ms'")
                    client_id = await conn.fetchval(
                        "SELECT client_id FROM gate_cases WHERE case_id = $1 FOR UPDATE NOWAIT", case_id)
                    await conn.execute("SELECT 1 FROM gate_clients WHERE client_id = $1 FOR UPDATE NOWAIT", client_id)
                    self.held.append(False)
                except asyncpg.LockNotAvailableError:
                    self.held.append(True)
        finally:
            await conn.close()
        return await self.inner.handle_async_request(request)


async def test_the_cases_service_is_asked_while_the_request_holds_no_row_lock(fresh_db, kafka_bootstrap):
    """The decision may take up to the client's timeout (10 s): kim.cases events of the case and client (handled
    under the same rows' locks) must not wait for it. The answer is re-checked under the locks afterwards."""
    await ensure_topics(kafka_bootstrap, "kim.cases", "kim.referrals")
    jobcenter = new_org("jc")
    probe = _LockProbe(fresh_db)
    async with service(fresh_db, kafka_bootstrap, cases_transport=probe) as client, \
            CasesStandIn(kafka_bootstrap) as cases:
        await register(client, jobcenter)
        case_id, _, _ = await consented_case(client, cases, jobcenter, purposes=["aufenthaltssicherung"],
                                             categories=["aufenthalt"])
        made = await client.post("/referrals", headers=CASE_MANAGER, json=referral(case_id, jobcenter))
        assert made.status_code == 201, made.text
    assert probe.held == [False]  # asked once, with the rows free


class _DeadlockMaker(httpx.AsyncBaseTransport):
    """While the consent decision is asked (before the request's transaction), another transaction locks the
    consent's gate row and, once the request waits for it, updates the case's gate row the request holds FOR SHARE:
    the order of the cases consumer's batch (ConsentGranted, then AssessmentCompleted of the same case). PostgreSQL
    ends one of the two (the request: it waited first, its deadlock check runs first)."""

    def __init__(self, dsn: str):
        self.dsn, self.inner, self.task = dsn, httpx.ASGITransport(app=STAND_IN_DECISIONS.app), None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.task is None:
            case_id = request.url.path.split("/")[3]
            conn = await db.connect(self.dsn)
            tx = conn.transaction()
            await tx.start()
            await conn.execute("SELECT 1 FROM gate_consents WHERE case_id = $1 FOR UPDATE", case_id)

            async def then_the_case():
                try:
                    await asyncio.sleep(0.3)  # the request waits for the consent's row by now
                    await conn.execute("UPDATE gate_cases SET rechtskreis = rechtskreis WHERE case_id = $1", case_id)
                    await tx.commit()
                finally:
                    await conn.close()

            self.task = asyncio.create_task(then_the_case())
        return await self.inner.handle_async_request(request)


async def test_a_request_ended_by_a_deadlock_with_the_cases_consumer_is_tried_again(fresh_db, kafka_bootstrap):
    await ensure_topics(kafka_bootstrap, "kim.cases", "kim.referrals")
    jobcenter = new_org("jc")
    maker = _DeadlockMaker(fresh_db)
    async with service(fresh_db, kafka_bootstrap, cases_transport=maker) as client, \
            CasesStandIn(kafka_bootstrap) as cases:
        await register(client, jobcenter)
        case_id, _, _ = await consented_case(client, cases, jobcenter, purposes=["aufenthaltssicherung"],
                                             categories=["aufenthalt"])
        made = await client.post("/referrals", headers=CASE_MANAGER, json=referral(case_id, jobcenter))
        await maker.task  # the other transaction went through (it was not the one ended)
        assert made.status_code == 201, made.text
        body = (await client.get(f"/referrals/{made.json()['referral_id']}", headers=CASE_MANAGER)).json()
        assert body["state"] == "requested"
