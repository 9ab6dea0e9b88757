"""The caseload policy is a projection like any other: built through the live path (the cases service over Kafka,
staffing's own commands), its tables dropped, `kim replay --service staffing --from store` rebuilds the same rows from
the two stores; the limit events it announced live are not announced again (a replay appends no event), twice. Then
`kim replay caseload` from Kafka (offset zero of kim.cases and kim.staffing) rebuilds the same rows once more.

A share is counted on the day of the latest event that touched its staff member, live and in a replay alike: a replay
on a later day, after the share ended with no event since, gives the rows the live path gave."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from kim_runtime.auth import Role
from kim_runtime.scheduler import local_day

from ..audit import cli
from ..db_rows import count_events, drop_schema, fetch, replay_twice_changes_nothing
from .conftest import eventually, running, token, uid
from .test_caseload import opened
from .test_with_cases_service import LUENEN, as_manager, cases_service, open_case

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
LEAD = token(Role.ADMIN)  # unscoped: the cases are stadt-luenen's, the position the Kreis's
# every column but updated_at
COLUMNS = {"caseload_cases": "case_id, staff_member_id, municipality, baustein, status, manager_since, "
                             "team_organisation_id",
           "caseloads": "staff_member_id, active_cases, vza_share, case_limit, over_limit, vza_share_on"}


async def fill_half_a_position(staffing, position: str, staff_member_id: str) -> None:
    """A position of 1.0 VZÄ from 2025-01-01 (version 1), half of it filled by the staff member since then (2)."""
    body = {"position_id": position, "baustein": "2", "vza": "1.0", "host_organisation_id": "kreis-unna",
            "municipality": LUENEN, "funding_source": "anderes_programm", "grant_id": None, "valid_from": "2025-01-01"}
    assert (await staffing.post("/positions", json=body, headers=LEAD)).status_code == 201
    r = await staffing.post(f"/positions/{position}/fill", headers={**LEAD, "If-Match": '"1"'},
                            json={"staff_member_id": staff_member_id, "vza_share": "0.5", "filled_on": "2025-01-01"})
    assert r.status_code == 200, r.text


async def rows(dsn: str) -> dict[str, list[tuple]]:
    found = await fetch(dsn, *(f"SELECT {cols} FROM caseload.{t} ORDER BY 1" for t, cols in COLUMNS.items()))
    return dict(zip(COLUMNS, found, strict=True))


async def test_replay_rebuilds_the_caseload_and_announces_nothing_again(stack, fresh_db, kafka_bootstrap):
    anna, ben, cem = uid("cm"), uid("cm"), uid("cm")
    async with cases_service(stack) as cases:
        await build_through_the_live_path(cases, fresh_db, kafka_bootstrap, anna, ben, cem)
        await drop_and_replay_twice(fresh_db, cases.database_url, anna, ben, cem)
        await drop_and_replay_from_kafka(fresh_db, kafka_bootstrap, {anna, ben, cem})


async def build_through_the_live_path(cases, fresh_db: str, kafka_bootstrap: str, anna: str, ben: str, cem: str):
    position = uid("pos")
    async with running(fresh_db, kafka_bootstrap, caseload_limit_per_vza=2) as staffing:
        read = as_manager(anna)

        async def load(staff: str, active: int, over: bool):
            r = await staffing.get(f"/caseloads/{staff}", headers=read)
            ok = r.status_code == 200 and r.json()["active_cases"] == active and r.json()["over_limit"] is over
            return r.json() if ok else None

        opened = [await open_case(cases, as_manager(anna)) for _ in range(3)]
        await eventually(lambda: load(anna, 3, True))  # limit 2: CaseloadLimitExceeded
        # staffing's own command: a case moves to ben (CaseManagerAssigned), anna is back within her limit
        r = await staffing.put(f"/cases/{opened[0]}/case-manager", json={"staff_member_id": ben}, headers=LEAD)
        assert r.status_code == 200, r.text
        await eventually(lambda: load(anna, 2, False))
        # a half-time share halves anna's limit (1): filling the position re-checks her caseload
        await fill_half_a_position(staffing, position, anna)
        await eventually(lambda: load(anna, 2, True))
        moved = await cases.post(f"/cases/{opened[1]}/transfer", headers=as_manager(anna), json={
            "municipality": LUENEN, "team": "stadt", "team_organisation_id": "stadt-luenen", "case_manager_id": cem,
            "transferred_on": "2025-03-01"})
        assert moved.status_code == 200, moved.text
        closed = await cases.post(f"/cases/{opened[2]}/closure", headers=as_manager(anna),
                                  json={"reason": "regeldienste", "closed_on": "2025-04-01"})
        assert closed.status_code == 200, closed.text
        await eventually(lambda: load(anna, 0, False))
        await eventually(lambda: load(cem, 1, False))
        for _ in range(2):  # ben ends over his limit: the rebuilt row must say so without announcing it again
            await open_case(cases, as_manager(ben))
        await eventually(lambda: load(ben, 3, True))
        announced = [e.type.rsplit(".", 1)[1] for e in await staffing.app.state.runtime.store.read_stream(anna)]
        assert announced == ["CaseloadLimitExceeded", "CaseloadBackWithinLimit", "CaseloadLimitExceeded",
                             "CaseloadBackWithinLimit"]


async def drop_and_replay_twice(fresh_db: str, cases_db: str, anna: str, ben: str, cem: str):
    live = await rows(fresh_db)
    assert {r[0]: r[4] for r in live["caseloads"]} == {anna: False, ben: True, cem: False}
    assert len(live["caseload_cases"]) == 5
    await replay_twice_changes_nothing("staffing", "caseload", fresh_db, rows, cli.environment(
        KIM_STAFFING_DATABASE_URL=fresh_db, KIM_CASES_DATABASE_URL=cases_db, KIM_CASELOAD_LIMIT_PER_VZA="2"))


async def drop_and_replay_from_kafka(fresh_db: str, kafka_bootstrap: str, staff: set[str]):
    def ours(found: dict[str, list[tuple]]) -> dict[str, list[tuple]]:
        """The test's rows: the shared test broker's topics also carry other tests' cases and staff members."""
        return {"caseload_cases": [r for r in found["caseload_cases"] if r[1] in staff],
                "caseloads": [r for r in found["caseloads"] if r[0] in staff]}

    live, events = ours(await rows(fresh_db)), await count_events(fresh_db)
    await drop_schema(fresh_db, "caseload")
    code, out, err = await cli.run("replay", "caseload", timeout=600, env=cli.environment(
        KIM_STAFFING_DATABASE_URL=fresh_db, KIM_KAFKA_BOOTSTRAP=kafka_bootstrap, KIM_CASELOAD_LIMIT_PER_VZA="2"))
    assert code == 0, err
    assert "caseload: " in out and "swapped in" in out, out
    assert ours(await rows(fresh_db)) == live
    assert await count_events(fresh_db) == events


async def test_a_replay_counts_a_share_on_the_day_the_live_path_did_not_on_its_own(fresh_db, kafka_bootstrap, cases):
    """anna fills half a position; her share ends in ten days (vacated ahead). A case of hers opens in five days
    (half a VZÄ: limit 1), another in twenty, after the share ended (full time: limit 2, 2 cases are within it). The
    cases come with those times, as if the live path ran then. Counted on the clock's day (the old way) the second
    case would be over half a VZÄ's limit live, and a replay run after the end day would count full time."""
    anna, position, now = uid("cm"), uid("pos"), datetime.now(UTC)
    on = {days: now + timedelta(days=days) for days in (5, 20)}
    async with running(fresh_db, kafka_bootstrap, caseload_limit_per_vza=2) as staffing:
        await fill_half_a_position(staffing, position, anna)
        r = await staffing.post(f"/positions/{position}/vacate", headers={**LEAD, "If-Match": '"2"'}, json={
            "staff_member_id": anna, "vacated_on": (now + timedelta(days=10)).date().isoformat(),
            "reason": "befristung"})
        assert r.status_code == 200, r.text

        async def load(active: int):
            r = await staffing.get(f"/caseloads/{anna}", headers=as_manager(anna))
            return r.json() if r.status_code == 200 and r.json()["active_cases"] == active else None

        await cases.publish(opened(uid("case"), anna), at=on[5])
        first = await eventually(lambda: load(1))
        assert (Decimal(first["vza_share"]), first["limit"], first["over_limit"]) == (Decimal("0.5"), 1, False)
        assert date.fromisoformat(first["vza_share_on"]) == local_day(on[5])
        await cases.publish(opened(uid("case"), anna), at=on[20])
        second = await eventually(lambda: load(2))
        assert (Decimal(second["vza_share"]), second["limit"], second["over_limit"]) == (Decimal(1), 2, False)
        assert date.fromisoformat(second["vza_share_on"]) == local_day(on[20])
        assert await staffing.app.state.runtime.store.read_stream(anna) == []  # nothing crossed, nothing announced
    await drop_and_replay_from_kafka(fresh_db, kafka_bootstrap, {anna})
