"""The consent gate honours the consent's validity window (issue 13): a consent recorded in the cases service with
granted_on months ahead does not open the gate today (409 saying when it takes effect), one granted today does.
Both real services over Kafka; the cases service decides (the referrals service knows no consent dates)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from .support import ensure_topics, new_org, referrals_service, register
from .with_cases import CASEWORKER, Kreis, cases_service, ok

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def test_a_consent_granted_months_ahead_does_not_open_the_gate_today(fresh_db, cases_db, kafka_bootstrap):
    await ensure_topics(kafka_bootstrap, "kim.cases", "kim.referrals")
    abh = new_org("abh")
    today = date.today()
    async with cases_service(cases_db, kafka_bootstrap) as cases, \
            referrals_service(fresh_db, kafka_bootstrap, cases_transport=cases.internal) as refs:
        kreis = Kreis(cases, refs)
        await register(refs, abh, "abh")
        _, case_id = await kreis.client_with_case("Oleksandr Kovalenko")
        ahead = today + timedelta(days=120)
        pending = await kreis.consent(case_id, [abh], granted_on=ahead)
        consents = await ok(await refs.get(f"/cases/{case_id}/consents", headers=CASEWORKER))
        assert [c["consent_id"] for c in consents] == [pending]
        assert "granted_on" not in consents[0] and "valid_until" not in consents[0]  # the dates stay in cases

        refused = await kreis.refer(case_id, abh)
        assert refused.status_code == 409, refused.text
        assert refused.json()["missing"] == [
            f"consent {pending} takes effect only on {ahead.isoformat()} (granted_on lies after today, "
            f"{today.isoformat()})"]
        assert (await ok(await refs.get(f"/cases/{case_id}/referrals", headers=CASEWORKER))) == []

        current = await kreis.consent(case_id, [abh], granted_on=today)
        made = await ok(await kreis.refer(case_id, abh), 201)
        assert made["consent_id"] == current
