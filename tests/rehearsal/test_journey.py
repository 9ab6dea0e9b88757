"""A client's journey through the HTTP APIs of the four services as compose runs them: each service logged in to
Kafka with its own SCRAM user (SASL_PLAINTEXT, ACLs deny everything else) and to PostgreSQL with its own role.

register → consent → case → staffing learns of it over Kafka → case manager named → referral to the Jobcenter →
the Jobcenter's own SCRAM user reads the offer on its topic → the Jobcenter accepts and reports a placement over
HTTP → the case shows the outcome (cases consumed kim.referrals) → reporting consumed kim.cases. A partner registered
later than kafka-init ran gets its topic from the referrals service (its Create ACL on kim.partner.*).
"""

from __future__ import annotations

import re
import uuid
from datetime import date
from types import SimpleNamespace

import httpx
import pytest
from kim_runtime.auth import Principal, Role

from tests.e2e.support import Caller, eventually
from tests.e2e.test_client_journey import Journey, _case_outcome, _json_if, _status
from tests.rehearsal import acl
from tests.rehearsal.topology import LATE_PARTNER, PARTNERS, SERVICES, Rehearsal, partner_passwords

JOBCENTER = PARTNERS[0]
assert JOBCENTER == "jobcenter-kreis-unna"  # the partner tests.e2e's Journey refers to


@pytest.fixture(scope="package")
async def journey(rehearsal: Rehearsal) -> dict:
    """The journey, once for the package; returns what the later tests look for."""
    urls = {s: rehearsal.url(s) for s in SERVICES}
    services = SimpleNamespace(urls=urls, auth_secret=rehearsal.env["KIM_AUTH_SECRET"])
    tag = uuid.uuid4().hex[:8]
    async with httpx.AsyncClient(timeout=30) as http:
        j = Journey(services, http, tag)
        for org in (JOBCENTER, LATE_PARTNER):
            await j.admin.expect(201, "POST", "referrals", "/partners", {
                "organisation_id": org, "name": org, "kind": "jobcenter" if org == JOBCENTER else "wohlfahrtsverband",
                "public_body": org == JOBCENTER})
        client_id, case_id = await j.case_with_plan(f"Rehearsal Client {tag}")
        await eventually(lambda: _status(j.lead, "GET", "staffing", f"/cases/{case_id}", 200),
                         what="staffing knows the case (it read kim.cases as kim-staffing)")
        await j.lead.expect(200, "PUT", "staffing", f"/cases/{case_id}/case-manager", {"staff_member_id": f"ma-{tag}"})
        referral = await eventually(lambda: _json_if(j.manager, 201, "POST", "referrals", "/referrals", {
            "case_id": case_id, "to_organisation_id": JOBCENTER, "purpose": "arbeitsmarktintegration",
            "data_categories": ["stammdaten", "arbeit_qualifikation"]}), what="the referral is accepted")
        password = partner_passwords(rehearsal.env)[JOBCENTER]

        async def offered():
            outcome, records = await acl.read(rehearsal.external_bootstrap, f"partner-{JOBCENTER}", password,
                                              f"kim.partner.{JOBCENTER}", f"partner.{JOBCENTER}.journey",
                                              every_partition=True)
            assert outcome == "allowed", outcome
            return [r for r in records if r.key == referral["partner_referral_id"].encode()]

        records = await eventually(offered, timeout_s=60, what="the Jobcenter's user reads the offer on its topic")
        mine = f"/partner/referrals/{referral['partner_referral_id']}"
        await j.partner.expect(200, "POST", "referrals", f"{mine}/accept")
        await j.partner.expect(200, "POST", "referrals", f"{mine}/appointment",
                               {"appointment_on": date.today().isoformat()})
        await j.partner.expect(200, "POST", "referrals", f"{mine}/outcome", {"outcome": "vermittelt"})
        await eventually(lambda: _case_outcome(j, case_id, referral["referral_id"]),
                         what="the case shows the outcome (cases read kim.referrals as kim-cases)")
        return {"client_id": client_id, "case_id": case_id, "referral": referral, "offer": records[0]}


async def test_the_partner_reads_the_offer_of_its_referral_on_its_own_topic(journey):
    headers = dict(journey["offer"].headers)
    assert headers["ce_type"] == b"kim.partner.PartnerReferralSealedSnapshot"
    assert "ce_subject" not in headers  # the partner's pseudonym is inside the sealed snapshot only
    assert journey["client_id"].encode() not in journey["offer"].value


async def test_the_referrals_service_created_the_topic_of_a_partner_registered_later(rehearsal, journey):
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=rehearsal.bootstrap, **rehearsal.admin_options())
    await admin.start()
    try:
        topics = await admin.list_topics()
    finally:
        await admin.close()
    assert f"kim.partner.{LATE_PARTNER}" in topics
    assert f"kim.partner.{LATE_PARTNER}" not in rehearsal.kafka_init_output  # not made by kafka-init


@pytest.mark.parametrize("service", SERVICES)
async def test_every_service_consumed_the_journey_with_its_own_kafka_user(rehearsal, journey, service):
    """Each service's inbox holds events it took from Kafka (read with its own SCRAM user, in its own groups), and
    none of them was dead-lettered."""
    import asyncpg

    conn = await asyncpg.connect(rehearsal.admin_url_of(f"kim_{service}"))
    try:
        handled = await conn.fetchval("SELECT count(*) FROM inbox")
    finally:
        await conn.close()
    assert handled > 0, f"{service} handled no event from Kafka"
    metrics = httpx.get(f"{rehearsal.url(service)}/metrics").text
    parked = [line for line in metrics.splitlines()
              if line.startswith("kim_consumer_dead_lettered_total{") and not line.endswith(" 0.0")]
    assert not parked, parked


@pytest.mark.parametrize("service", SERVICES)
async def test_no_service_met_an_authorization_failure(rehearsal, journey, service):
    text = (rehearsal.logs / f"{service}.log").read_text(errors="replace")
    refusals = [line for line in text.splitlines()
                if re.search(r"AuthorizationFailed|SaslAuthenticationFailed|Not authorized|password authentication",
                             line)]
    assert not refusals, "\n".join(refusals[:5])
    assert rehearsal.services[service].popen.poll() is None, f"{service} exited"
