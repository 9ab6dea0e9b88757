"""What partners report back on kim.referrals shows up on the case (events produced here with Envelope headers,
as the referrals service would publish them)."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaProducer
from kim_runtime.envelope import Envelope

from .conftest import Api
from .kafka_tail import eventually

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def referral_event(name: str, referral_id: str, version: int, **data) -> Envelope:
    return Envelope(type=f"kim.referrals.{name}", source="/kim/referrals", stream_id=referral_id,
                    stream_version=version, data={"referral_id": referral_id, **data})


async def test_a_reported_outcome_appears_on_the_case(api: Api, kafka_bootstrap: str):
    case_id = await api.case(await api.client())
    consent_id = await api.consent(case_id)
    referral_id = f"ref-{uuid.uuid4().hex[:8]}"
    events = [
        referral_event("ReferralRequested", referral_id, 1, case_id=case_id, from_organisation_id="kreis-unna",
                       to_organisation_id="abh-unna", purpose="aufenthaltssicherung", data_categories=["aufenthalt"],
                       consent_id=consent_id, due_on="2025-03-01", requested_at="2025-02-01T09:00:00+01:00"),
        referral_event("ReferralAccepted", referral_id, 2, accepted_at="2025-02-02T09:00:00+01:00"),
        referral_event("AppointmentScheduled", referral_id, 3, appointment_on="2025-02-20",
                       scheduled_at="2025-02-03T09:00:00+01:00"),
        referral_event("ReferralOutcomeReported", referral_id, 4, outcome="aufenthaltstitel_erteilt",
                       reported_at="2025-02-21T10:00:00+01:00"),
    ]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for e in events:
            await producer.send_and_wait("kim.referrals", e.kafka_value(), key=e.kafka_key(),
                                         headers=[(k, v.encode()) for k, v in e.kafka_headers().items()])
    finally:
        await producer.stop()

    async def reported():
        refs = (await api.get(f"/cases/{case_id}"))["referrals"]
        return refs if refs and refs[0]["outcome"] else None

    [ref] = await eventually(reported)
    assert (ref["referral_id"], ref["status"], ref["to_organisation_id"]) == (referral_id, "accepted", "abh-unna")
    assert ref["appointment_on"] == "2025-02-20" and ref["outcome"] == "aufenthaltstitel_erteilt"
