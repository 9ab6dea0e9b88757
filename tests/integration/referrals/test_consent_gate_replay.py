"""The consent gate is a projection like any other: built through the live path (the real cases service over Kafka:
consents granted, one withdrawn, one case closed, one client erased, each revoking a referral), its tables dropped,
`kim replay --service referrals --from store` rebuilds the same rows from the cases store, and revokes nothing again:
a replay appends no event, twice; and from Kafka (`kim replay consent_gate`) once more."""

from __future__ import annotations

import uuid

import pytest

from ..audit import cli
from ..db_rows import count_events, drop_schema, fetch, replay_twice_changes_nothing
from ..staffing.conftest import skip_history
from .support import ensure_topics, eventually, new_org, referrals_service, register
from .with_cases import CASEWORKER, TEAM_LEAD, Kreis, cases_service, ok
from tests.bodies import ERASURE

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
TABLES = ("gate_cases", "gate_clients", "gate_consents")


async def rows(dsn: str) -> dict[str, list[tuple]]:
    found = await fetch(dsn, *(f"SELECT * FROM consent_gate.{t} ORDER BY 1" for t in TABLES))
    return dict(zip(TABLES, found, strict=True))


async def test_replay_rebuilds_the_consent_gate_and_revokes_nothing_again(fresh_db, cases_db, kafka_bootstrap):
    await ensure_topics(kafka_bootstrap, "kim.cases", "kim.referrals")
    prefix = f"kim-test-{uuid.uuid4().hex[:8]}"  # a group of its own, at the end of kim.cases: this test's cases only
    await skip_history(kafka_bootstrap, f"{prefix}-referrals-consent_gate", ("kim.cases",))
    abh = new_org("abh")
    async with cases_service(cases_db, kafka_bootstrap) as cases:
        async with referrals_service(fresh_db, kafka_bootstrap, cases_transport=cases.internal,
                                     consumer_group_prefix=prefix) as refs:
            kreis = Kreis(cases, refs)
            await register(refs, abh, "abh")
            made = {}
            for name in ("Anna Withdrawn", "Ben Closed", "Cem Erased", "Dora Open"):
                client_id, case_id = await kreis.client_with_case(name)
                consent_id = await kreis.consent(case_id, [abh])
                referral_id = (await ok(await kreis.refer(case_id, abh), 201))["referral_id"]
                made[name] = (client_id, case_id, consent_id, referral_id)

            _, case_id, consent_id, _ = made["Anna Withdrawn"]
            await ok(await cases.post(f"/cases/{case_id}/consents/{consent_id}/withdrawal", headers=CASEWORKER,
                                      json={"scope": "alle"}))
            await ok(await cases.post(f"/cases/{made['Ben Closed'][1]}/closure", headers=CASEWORKER,
                                      json={"reason": "regeldienste", "closed_on": "2025-04-01"}))
            await ok(await cases.post(f"/clients/{made['Cem Erased'][0]}/erasure", headers=TEAM_LEAD, json=ERASURE))

            async def states():
                got = {n: (await ok(await refs.get(f"/referrals/{m[3]}", headers=CASEWORKER)))["state"]
                       for n, m in made.items() if n != "Cem Erased"}
                return got if got == {"Anna Withdrawn": "revoked", "Ben Closed": "closed",
                                      "Dora Open": "requested"} else None
            await eventually(states)

            async def erased_revoked():
                [found] = await fetch(fresh_db, "SELECT state FROM referrals WHERE referral_id = "
                                                f"'{made['Cem Erased'][3]}'")
                return found == [("revoked",)]
            await eventually(erased_revoked)

        live = await rows(fresh_db)
        assert len(live["gate_cases"]) == 4 and len(live["gate_consents"]) == 4
        assert [r for r in live["gate_clients"] if r[2] is not None] != []  # Cem's erasure is in the gate
        await replay_twice_changes_nothing("referrals", "consent_gate", fresh_db, rows, cli.environment(
            KIM_REFERRALS_DATABASE_URL=fresh_db, KIM_CASES_DATABASE_URL=cases_db))
        await drop_and_replay_from_kafka(fresh_db, kafka_bootstrap, {i for m in made.values() for i in m[:3]})


async def drop_and_replay_from_kafka(fresh_db: str, kafka_bootstrap: str, ids: set[str]):
    """`kim replay consent_gate` from Kafka (kim.cases from offset zero): the same rows of the test's cases, clients
    and consents (the shared test broker's topic also carries other tests'), no event appended."""
    def ours(found: dict[str, list[tuple]]) -> dict[str, list[tuple]]:
        return {t: [r for r in found[t] if r[0] in ids] for t in TABLES}

    live, events = ours(await rows(fresh_db)), await count_events(fresh_db)
    await drop_schema(fresh_db, "consent_gate")
    code, out, err = await cli.run("replay", "consent_gate", timeout=600, env=cli.environment(
        KIM_REFERRALS_DATABASE_URL=fresh_db, KIM_KAFKA_BOOTSTRAP=kafka_bootstrap))
    assert code == 0, err
    assert "consent_gate: " in out and "swapped in" in out, out
    assert ours(await rows(fresh_db)) == live
    assert await count_events(fresh_db) == events
