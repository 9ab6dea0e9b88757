"""A partner's API credential (POST /partners/{id}/credentials, what `kim partner onboard` and `rotate` call): the
token it returns works on the partner API; after the next one it is refused, and so is a plain partner token of that
organisation; other partners' tokens are untouched; only an admin issues one, for a registered partner only."""

from __future__ import annotations

import pytest
from kim_runtime.auth import Role

from .support import ensure_topics, new_org, partner, referrals_service, register, token

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

ADMIN = token(Role.ADMIN)


async def test_a_rotated_credential_refuses_the_earlier_token_and_only_that_organisations(fresh_db, kafka_bootstrap):
    await ensure_topics(kafka_bootstrap, "kim.cases", "kim.referrals")
    mine, other = new_org("jc"), new_org("awo")
    async with referrals_service(fresh_db, kafka_bootstrap) as client:
        await register(client, mine)
        await register(client, other)
        # before onboarding a plain partner token works (make run's sign-ins, the demo)
        assert (await client.get("/partner/referrals", headers=partner(mine))).status_code == 200

        first = await client.post(f"/partners/{mine}/credentials", headers=ADMIN)
        assert first.status_code == 201, first.text
        one = first.json()
        assert one["organisation_id"] == mine and one["expires_at"] > one["issued_at"]
        bearer = {"Authorization": f"Bearer {one['token']}"}
        assert (await client.get("/partner/referrals", headers=bearer)).status_code == 200
        plain = await client.get("/partner/referrals", headers=partner(mine))
        assert plain.status_code == 401 and "kim partner rotate" in plain.text  # onboarded: its credential only

        second = (await client.post(f"/partners/{mine}/credentials", headers=ADMIN)).json()
        assert second["credential_id"] != one["credential_id"]
        refused = await client.get("/partner/referrals", headers=bearer)
        assert refused.status_code == 401 and "replaced" in refused.text
        assert (await client.get("/partner/referrals",
                                 headers={"Authorization": f"Bearer {second['token']}"})).status_code == 200
        assert (await client.get("/partner/referrals", headers=partner(other))).status_code == 200  # not onboarded

        history = (await client.get("/partners", headers=ADMIN)).json()
        assert {p["organisation_id"] for p in history} >= {mine, other}
        current = {"Authorization": f"Bearer {second['token']}"}
        assert (await client.post(f"/partners/{mine}/credentials", headers=current)).status_code == 403
        assert (await client.post(f"/partners/{mine}/credentials",
                                  headers=token(Role.TEAM_LEAD))).status_code == 403
        unknown = await client.post(f"/partners/{new_org('nobody')}/credentials", headers=ADMIN)
        assert unknown.status_code == 404 and "register it first" in unknown.text
        assert (await client.post("/partners/Not_An_Id/credentials", headers=ADMIN)).status_code == 422
