"""Caseload over the real Kafka: cases events on kim.cases move the caseload here; limit events fire once."""

from __future__ import annotations

from datetime import date

import pytest
from aiokafka import AIOKafkaConsumer
from kim_runtime.auth import Role
from kim_schemas.cases import CaseClosed, CaseOpened, CasePaused, CaseResumed, CaseTransferred

from .conftest import eventually, running, token, uid

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

LEAD, CM = token(Role.TEAM_LEAD), token(Role.CASE_MANAGER)
LUENEN, UNNA = "05978024", "05978036"


def opened(case_id: str, manager: str, municipality: str = LUENEN) -> CaseOpened:
    return CaseOpened(case_id=case_id, client_id=uid("client"), municipality=municipality, baustein="2", team="kreis",
                      team_organisation_id="kreis-unna", case_manager_id=manager, access_channel="selbstmeldung",
                      opened_on=date(2025, 3, 1))


def closed(case_id: str) -> CaseClosed:
    return CaseClosed(case_id=case_id, reason="ziele_erreicht", closed_on=date(2025, 9, 1), goals_agreed=2,
                      goals_achieved=1, duration_days=184)


async def load_of(api, staff_member_id: str) -> dict | None:
    r = await api.get(f"/caseloads/{staff_member_id}", headers=CM)
    return r.json() if r.status_code == 200 else None


def reaches(api, staff_member_id: str, active: int):
    async def check():
        load = await load_of(api, staff_member_id)
        return load if load and load["active_cases"] == active else None

    return check


async def limit_events_on_topic(bootstrap: str, keys: set[str]) -> list[tuple[str, str]]:
    """(key, event type) of every record on kim.staffing for these keys, read from the start to the current end."""
    consumer = AIOKafkaConsumer("kim.staffing", bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()  # without a group every partition is assigned at start
    found = []
    try:
        end = await consumer.end_offsets(list(consumer.assignment()))
        while [tp for tp, off in end.items() if await consumer.position(tp) < off]:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                found += [(r.key.decode(), dict(r.headers)["ce_type"].decode()) for r in records
                          if r.key and r.key.decode() in keys]
    finally:
        await consumer.stop()
    return found


async def test_cases_opened_and_closed_move_the_caseload_and_the_limit_event_fires_once(
    fresh_db, kafka_bootstrap, cases
):
    manager = uid("cm")
    async with running(fresh_db, kafka_bootstrap, caseload_limit_per_vza=2) as api:
        ids = [uid("case") for _ in range(4)]
        for case_id in ids[:3]:
            await cases.publish(opened(case_id, manager))
        load = await eventually(reaches(api, manager, 3))
        assert load["over_limit"] is True and load["limit"] == 2 and load["cases_per_vza"] == "3.00"
        await cases.publish(opened(ids[3], manager))  # further over: no second event
        await eventually(reaches(api, manager, 4))
        for case_id in ids[:3]:
            await cases.publish(closed(case_id))
        load = await eventually(reaches(api, manager, 1))
        assert load["over_limit"] is False

        runtime = api.app.state.runtime
        events = await runtime.store.read_stream(manager)
        assert [e.type for e in events] == ["kim.staffing.CaseloadLimitExceeded", "kim.staffing.CaseloadBackWithinLimit"]
        assert events[0].data["active_cases"] == 3 and events[1].data["active_cases"] == 2
        assert events[0].causation_id is not None
        await eventually(lambda: _none_pending(runtime))
    on_topic = await limit_events_on_topic(kafka_bootstrap, {manager})
    assert on_topic == [(manager, "kim.staffing.CaseloadLimitExceeded"),
                        (manager, "kim.staffing.CaseloadBackWithinLimit")]


async def _none_pending(runtime) -> bool:
    return await runtime.outbox_pending() == 0


async def test_transfers_pauses_and_assignments_move_cases_between_managers(fresh_db, kafka_bootstrap, cases):
    anna, ben, cem = uid("cm"), uid("cm"), uid("cm")
    a1, a2, a3 = uid("case"), uid("case"), uid("case")
    async with running(fresh_db, kafka_bootstrap) as api:
        for case_id in (a1, a2, a3):
            await cases.publish(opened(case_id, anna))
        await eventually(reaches(api, anna, 3))

        moved = CaseTransferred(case_id=a1, municipality=UNNA, team="stadt", team_organisation_id="stadt-unna",
                                case_manager_id=ben, transferred_on=date(2025, 5, 1))
        await cases.publish(moved)
        await cases.publish(CasePaused(case_id=a2, reason="krankheit", paused_on=date(2025, 5, 2)))
        await eventually(reaches(api, anna, 1))
        assert (await load_of(api, ben))["active_cases"] == 1

        r = await api.put(f"/cases/{a3}/case-manager", json={"staff_member_id": cem}, headers=LEAD)
        assert r.status_code == 200, r.text
        assert r.json()["staff_member_id"] == cem and r.headers["ETag"] == '"1"'
        assert (await load_of(api, anna))["active_cases"] == 0  # at once, in the command's transaction
        assert (await load_of(api, cem))["active_cases"] == 1
        history = (await api.get(f"/cases/{a3}", params={"history": "true"}, headers=CM)).json()["history"]
        assert history[0]["data"]["previous_staff_member_id"] == anna

        stale = await api.put(f"/cases/{a3}/case-manager", json={"staff_member_id": ben},
                              headers={**LEAD, "If-Match": '"0"'})
        assert stale.status_code == 412
        assert (await api.put(f"/cases/{uid('case')}/case-manager", json={"staff_member_id": ben},
                              headers=LEAD)).status_code == 404

        await cases.publish(CaseResumed(case_id=a2, resumed_on=date(2025, 6, 1)))
        await eventually(reaches(api, anna, 1))
        per_vza = (await api.get("/caseloads/per-vza", headers=CM)).json()
        by_place = {m["municipality"]: m for m in per_vza["municipalities"]}
        assert by_place[LUENEN]["active_cases"] == 2 and by_place[UNNA]["active_cases"] == 1
        # the assignment also went out on kim.staffing and came back through the consumer without a second effect
        await cases.publish(closed(a3))
        await eventually(reaches(api, cem, 0))
        closed_case = await api.put(f"/cases/{a3}/case-manager", json={"staff_member_id": ben}, headers=LEAD)
        assert closed_case.status_code == 409 and "closed" in closed_case.json()["detail"]
