"""Consent expiry with a moved clock (issue 19): at the start of the day after valid_until the cases service's
scheduler records ConsentExpired, and the referrals service revokes every open referral resting on that consent
(reason einwilligung_abgelaufen) and tells its partner to purge, exactly as for a withdrawal. A referral resting on
another consent stays open. Both real services over Kafka; no wall-clock wait for the deadline."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import asyncpg
import pytest
from kim_runtime.scheduler import ManualClock, start_of
from kim_runtime.topics import partner_topic

from .support import PartnerTopicReader, ensure_topics, eventually, new_org, partner, register
from .support import referrals_service
from tests.scheduling import settled
from .with_cases import CASEWORKER, Kreis, cases_service, ok

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def expired_events(dsn: str) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT data->>'consent_id' AS c FROM events WHERE type = 'kim.cases.ConsentExpired'")
    finally:
        await conn.close()
    return [r["c"] for r in rows]


async def test_an_expired_consent_revokes_its_referrals_and_purges_the_partner_view(
        fresh_db, cases_db, kafka_bootstrap):
    await ensure_topics(kafka_bootstrap, "kim.cases", "kim.referrals")
    abh, jobcenter = new_org("abh"), new_org("jc")
    today = date.today()
    until = today + timedelta(days=30)
    clock = ManualClock(datetime.now(UTC))
    async with cases_service(cases_db, kafka_bootstrap, clock=clock) as cases, \
            referrals_service(fresh_db, kafka_bootstrap, cases_transport=cases.internal) as refs:
        kreis = Kreis(cases, refs)
        await register(refs, abh, "abh")
        await register(refs, jobcenter, "jobcenter")
        client_id, case_id = await kreis.client_with_case("Oleksandr Kovalenko")
        ending = await kreis.consent(case_id, [abh], granted_on=today, valid_until=until)
        lasting = await kreis.consent(case_id, [jobcenter], granted_on=today)
        on_ending = await ok(await kreis.refer(case_id, abh), 201)
        on_lasting = await ok(await kreis.refer(case_id, jobcenter), 201)
        assert (on_ending["consent_id"], on_lasting["consent_id"]) == (ending, lasting)

        clock.set(start_of(until + timedelta(days=1)) - timedelta(seconds=1))  # valid_until's last second
        await _settled(cases)
        assert await expired_events(cases_db) == []

        clock.set(start_of(until + timedelta(days=1)))
        await eventually(lambda: _expired(cases_db))
        ledger = await ok(await cases.get(f"/clients/{client_id}/consents", headers=CASEWORKER))
        assert {c["consent_id"]: c["status"] for c in ledger} == {ending: "expired", lasting: "active"}

        async def revoked():
            body = await ok(await refs.get(f"/referrals/{on_ending['referral_id']}", headers=CASEWORKER))
            return body if body["state"] == "revoked" else None
        body = await eventually(revoked)
        assert body["revocation_reason"] == "einwilligung_abgelaufen"
        async with PartnerTopicReader(kafka_bootstrap, partner_topic(abh)) as agency:
            records = await agency.wait_for(lambda m: m["key"] == on_ending["partner_referral_id"]
                                            and m["data"].get("purge") is True)
        [notice] = [r for r in records if r["data"].get("purge") is True]
        assert notice["data"]["reason"] == "einwilligung_abgelaufen"
        partner_view = await refs.get(f"/partner/referrals/{on_ending['partner_referral_id']}", headers=partner(abh))
        assert partner_view.status_code == 410, partner_view.text  # Gone, with the same reason as the notice
        assert partner_view.json()["reason"] == "einwilligung_abgelaufen"

        still = await ok(await refs.get(f"/referrals/{on_lasting['referral_id']}", headers=CASEWORKER))
        assert still["state"] == "requested"
        clock.advance(timedelta(days=400))
        await _settled(cases)
        assert await expired_events(cases_db) == [ending]  # fired once, and never again


async def _expired(dsn: str) -> list[str]:
    return await expired_events(dsn)


async def _settled(cases) -> None:
    await settled(cases._transport.app.state.runtime.scheduler)
