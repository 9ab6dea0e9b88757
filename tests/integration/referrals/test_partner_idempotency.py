"""The stranger's probe (H1): a partner's accept, repeated with the same Idempotency-Key after the referral was revoked
(consent withdrawn, or the client erased), must not replay the opened snapshot it was told to purge, with its token
or with a new one after `kim partner rotate`; and nothing of the referral stays in idempotency_keys."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from .support import (
    ADMIN, CASE_MANAGER, CasesStandIn, consented_case, ensure_topics, eventually, new_org, referrals_service, register,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def _bearer(credential: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential['token']}"}


@pytest.mark.parametrize("revocation", ["consent_withdrawn", "client_erased"])
async def test_a_replayed_accept_after_the_revocation_answers_410_not_the_snapshot(fresh_db, kafka_bootstrap,
                                                                                    revocation):
    await ensure_topics(kafka_bootstrap, "kim.cases", "kim.referrals")
    org = new_org("jc")
    async with referrals_service(fresh_db, kafka_bootstrap) as client, CasesStandIn(kafka_bootstrap) as cases:
        await register(client, org)
        case_id, client_id, consent_id = await consented_case(
            client, cases, org, purposes=["arbeitsmarktintegration"], categories=["arbeit_qualifikation", "aufenthalt"])
        r = await client.post("/referrals", headers=CASE_MANAGER, json={
            "case_id": case_id, "to_organisation_id": org, "purpose": "arbeitsmarktintegration",
            "data_categories": ["arbeit_qualifikation", "aufenthalt"]})
        assert r.status_code == 201, r.text
        rid, mine = r.json()["referral_id"], r.json()["partner_referral_id"]
        issued = await client.post(f"/partners/{org}/credentials", headers=ADMIN)  # kim partner onboard
        assert issued.status_code == 201, issued.text
        me = _bearer(issued.json())
        await eventually(lambda: _status(client, f"/partner/referrals/{mine}", me, 200))

        key = {"Idempotency-Key": f"accept-{uuid.uuid4()}"}
        accepted = await client.post(f"/partner/referrals/{mine}/accept", headers=me | key)
        assert accepted.status_code == 200, accepted.text
        snapshot = accepted.json()
        pseudonym, partner_consent = snapshot["client_pseudonym"], snapshot["consent_id"]
        assert pseudonym and partner_consent and snapshot["residence_status"] == "duldung_60a"
        replayed = await client.post(f"/partner/referrals/{mine}/accept", headers=me | key)
        assert replayed.headers.get("Idempotent-Replayed") == "true" and replayed.json() == snapshot  # as before

        db = await asyncpg.connect(fresh_db)
        try:
            stored = await db.fetchrow("SELECT subjects, body FROM idempotency_keys WHERE key = $1",
                                       key["Idempotency-Key"])
            assert {rid, mine} <= set(stored["subjects"]) and pseudonym.encode() in bytes(stored["body"])

            if revocation == "consent_withdrawn":
                await cases.withdraw(case_id, client_id, consent_id)
            else:
                await cases.erase(client_id)
            await eventually(lambda: _status(client, f"/partner/referrals/{mine}", me, 410))

            # the probe's exact sequence: the same key again, after the 410 on GET
            again = await client.post(f"/partner/referrals/{mine}/accept", headers=me | key)
            assert again.status_code == 410, again.text
            assert again.headers["content-type"] == "application/problem+json"
            for told in (pseudonym, partner_consent, "duldung_60a", "arbeitsmarktintegration", "client_pseudonym"):
                assert told not in again.text

            # kim partner rotate: a new token of the same organisation gets no snapshot either
            rotated = await client.post(f"/partners/{org}/credentials", headers=ADMIN)
            assert rotated.status_code == 201, rotated.text
            fresh = await client.post(f"/partner/referrals/{mine}/accept", headers=_bearer(rotated.json()) | key)
            assert fresh.status_code == 410 and pseudonym not in fresh.text and partner_consent not in fresh.text

            # a raw dump of the service's idempotency_keys: nothing names the referral or holds what it said
            dump = [dict(row) for row in await db.fetch("SELECT * FROM idempotency_keys")]
            text = repr(dump).encode() + b"".join(bytes(row["body"] or b"") for row in dump)
            for told in (pseudonym, partner_consent, mine, rid):
                assert told.encode() not in text, told
            assert b"duldung_60a" not in b"".join(bytes(row["body"] or b"") for row in dump
                                                   if row["key"] == key["Idempotency-Key"])
        finally:
            await db.close()


async def _status(client, url: str, headers: dict, status: int) -> bool:
    return (await client.get(url, headers=headers)).status_code == status
