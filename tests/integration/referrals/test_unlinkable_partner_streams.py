"""No two agencies can join their records, and none can join them with the service topics (issue 13).

A whole scenario on the real services and broker: three partners, three clients, one consent naming all three
partners, two overlapping consents, referrals made in one user action (one X-Correlation-ID) to every partner,
partner actions, a withdrawal, an erasure and a case closure that revoke at several partners in one consumer step.
Then every record of every partner topic and of the service topics is read back from Kafka, and every id-like value
in it (key, id headers, ids in the JSON, anything shaped like a UUID or a long hex string) is collected per topic:
no such value may be on two topics, unless both are service topics. The partner API answers with the same ids as
the partner's own topic.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import date

import pytest
from kim_runtime.topics import SERVICE_TOPICS, partner_topic

from .support import (
    eventually, ensure_topics, new_org, partner, read_records, referrals_service, register,
)
from .with_cases import CASEWORKER, TEAM_LEAD, Kreis, cases_service, ok
from tests.bodies import ERASURE

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

ID_HEADERS = {"ce_id", "ce_subject", "ce_correlationid", "ce_causationid", "correlation_id", "ce_keyid"}
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
_HEX = re.compile(r"[0-9a-f]{16,}", re.IGNORECASE)


def _looks_like_id(value: str) -> bool:
    return bool(_UUID.search(value) or _HEX.search(value))


def ids_in(record) -> dict[str, str]:
    """Every id-like value of a record -> where it was found. Organisation ids are not collected: a partner's own
    id is its topic's name and a public registry entry, not an id of a person or an action."""
    found = {record.key.decode(): "key"}
    for name, raw in record.headers:
        value = raw.decode()
        if name in ID_HEADERS or _looks_like_id(value):
            found[value] = f"header {name}"

    def walk(node, field: str) -> None:
        if isinstance(node, dict):
            for name, value in node.items():
                walk(value, name)
        elif isinstance(node, list):
            for value in node:
                walk(value, field)
        elif isinstance(node, str) and (_looks_like_id(node) or "pseudonym" in field
                                        or (field.endswith("_id") and not field.endswith("organisation_id"))):
            found[node] = f"field {field}"

    walk(json.loads(record.value or b"null"), "")  # a tombstone has no value
    return found


async def test_no_id_on_a_partner_topic_appears_on_any_other_topic(fresh_db, cases_db, kafka_bootstrap):
    await ensure_topics(kafka_bootstrap, "kim.cases", "kim.referrals")
    abh, jc, mbe = new_org("abh"), new_org("jc"), new_org("mbe")
    async with cases_service(cases_db, kafka_bootstrap) as cases, \
            referrals_service(fresh_db, kafka_bootstrap, cases_transport=cases.internal) as refs:
        kreis = Kreis(cases, refs)
        for org in (abh, jc, mbe):
            await register(refs, org)
        client_a, case_a = await kreis.client_with_case("Amina Haddad")
        client_b, case_b = await kreis.client_with_case("Oleksandr Kovalenko")
        client_c, case_c = await kreis.client_with_case("Samir Al-Khatib")
        await kreis.consent(case_a, [abh, jc, mbe])  # one consent naming three partners
        b_first = await kreis.consent(case_b, [abh, jc])
        await kreis.consent(case_b, [jc, mbe], granted_on=date(2025, 1, 11))  # later: B → jc rests on b_first
        await kreis.consent(case_c, [abh, mbe])

        one_action = str(uuid.uuid4())  # the case manager refers client A to all three in one user action
        made = {(case_a, org): await ok(await kreis.refer(case_a, org, correlation_id=one_action), 201)
                for org in (abh, jc, mbe)}
        made |= {(case, org): await ok(await kreis.refer(case, org), 201)
                 for case, org in ((case_b, abh), (case_b, jc), (case_b, mbe), (case_c, abh), (case_c, mbe))}

        c_abh, c_mbe = made[(case_c, abh)]["partner_referral_id"], made[(case_c, mbe)]["partner_referral_id"]
        for action, body in (("accept", None), ("appointment", {"appointment_on": "2025-04-01"}),
                             ("outcome", {"outcome": "aufenthaltstitel_verlaengert"})):
            await ok(await refs.post(f"/partner/referrals/{c_abh}/{action}", headers=partner(abh), json=body))
        await ok(await refs.post(f"/partner/referrals/{c_mbe}/decline", headers=partner(mbe),
                                 json={"reason": "keine_kapazitaet"}))
        await ok(await refs.post(f"/referrals/{made[(case_c, mbe)]['referral_id']}/close", headers=CASEWORKER))

        await ok(await cases.post(f"/cases/{case_b}/consents/{b_first}/withdrawal", headers=CASEWORKER,
                                  json={"scope": "alle"}))  # revokes at abh and jc in one consumer step
        await ok(await cases.post(f"/clients/{client_c}/erasure", headers=TEAM_LEAD, json=ERASURE))
        await ok(await cases.post(f"/cases/{case_a}/closure", headers=CASEWORKER, json={"reason": "sonstiges"}))

        # abh: 3 offers, C accepted/appointment/outcome, B withdrawn, C erased, A closed; jc: 2 offers and 2
        # revocations; mbe: 3 offers, C declined and closed, A closed. Every revocation is a notice and a tombstone.
        expected = {partner_topic(abh): 12, partner_topic(jc): 6, partner_topic(mbe): 7}
        topics = [*expected, *SERVICE_TOPICS.values()]

        seen: dict[str, list[str]] = {}

        async def all_published():
            records = await read_records(kafka_bootstrap, list(expected))
            seen.update({t: [dict(r.headers)["ce_type"].decode().rsplit(".", 1)[-1] for r in records[t]]
                         for t in expected})
            return all(len(records[t]) == n for t, n in expected.items())
        try:
            await eventually(all_published)
        except AssertionError:
            raise AssertionError(f"partner topics hold {seen}, expected {expected} records") from None
        records = await read_records(kafka_bootstrap, topics)
        api = {org: await ok(await refs.get("/partner/referrals", headers=partner(org))) for org in (abh, jc, mbe)}

    ids = {topic: {} for topic in topics}
    for topic, batch in records.items():
        for record in batch:
            ids[topic] |= ids_in(record)

    for topic in expected:  # every id a partner sees is its own: on no other partner's topic, on no service topic
        assert {dict(r.headers)["ce_actor"] for r in records[topic]} == {b"kim-referrals"}
        # nor a value the same for one client on every partner's topic (contract 3.0.0): no municipality header,
        # no consent date in the snapshot
        assert not any("ce_municipality" in dict(r.headers) for r in records[topic])
        assert not any(r.value and "consent_valid_until" in json.loads(r.value) for r in records[topic])
        assert len(ids[topic]) >= 3 * len(records[topic])  # key, ce_id, subject, correlation... were all collected
        for other in topics:
            if other != topic:
                shared = {v: (ids[topic][v], ids[other][v]) for v in ids[topic].keys() & ids[other].keys()}
                assert not shared, f"{topic} shares ids with {other}: {shared}"
    for org in (abh, jc, mbe):  # the partner API names each referral by the key it has on the partner's topic;
        on_topic = records[partner_topic(org)]  # revoked ones (a tombstone on the topic) are gone from both
        purged = {r.key.decode() for r in on_topic if r.value is None}
        assert {r["referral_id"] for r in api[org]} == {r.key.decode() for r in on_topic} - purged

    # the detector does see ids: the service topics share the case and client ids, as they should
    service_shared = ids["kim.cases"].keys() & ids["kim.referrals"].keys()
    assert {case_a, case_b, case_c, client_a, client_b, client_c} <= service_shared
    assert one_action in ids["kim.referrals"]
