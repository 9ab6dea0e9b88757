"""Retention with a moved clock (issue 19): when the retention period of a client's last closure has passed, the
cases service's scheduler destroys the client's key exactly as an erasure does (ClientErased, reason
aufbewahrungsfrist), but not while a legal hold is in force, nor while a case of theirs is open, nor before the
longest period of their closures is over. Here `wegzug` keeps 1 year, every other reason the default 3."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from kim_runtime.auth import Role
from kim_runtime.scheduler import ManualClock, start_of

from kim_cases.application.deadlines import plus_years
from kim_cases.bootstrap import build_app
from kim_cases.settings import CasesSettings
from tests.scheduling import settled

from .conftest import ADMIN, AUDITOR, MANAGER, SECRET, TEAM_LEAD, Api, token

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
TODAY = date.today()


@pytest.fixture
async def world(fresh_db: str, kafka_bootstrap: str) -> AsyncIterator[tuple[Api, ManualClock]]:
    settings = CasesSettings(database_url=fresh_db, kafka_bootstrap=kafka_bootstrap, auth_secret=SECRET,
                             retention_years_by_reason="wegzug=1")
    app = build_app(settings)
    clock = app.state.runtime.clock = ManualClock(datetime.now(UTC))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cases") as http:
            yield Api(http, app), clock


async def closed_client(api: Api, name: str, *reasons: str) -> str:
    client_id = await api.client(name)
    for reason in reasons:
        case_id = await api.case(client_id)
        await api.post(f"/cases/{case_id}/closure", {"reason": reason, "closed_on": TODAY.isoformat()})
    return client_id


async def erased(api: Api) -> dict[str, str]:
    async with api.app.state.runtime.pool.acquire() as conn:
        rows = await conn.fetch("SELECT stream_id, data->>'reason' AS reason FROM events "
                                "WHERE type = 'kim.cases.ClientErased'")
    return {r["stream_id"]: r["reason"] for r in rows}


async def at(api: Api, clock: ManualClock, when: datetime) -> dict[str, str]:
    clock.set(when)
    await settled(api.app.state.runtime.scheduler)
    return await erased(api)


async def test_retention_shreds_exactly_the_clients_due_and_not_those_under_a_legal_hold(world):
    api, clock = world
    moved = await closed_client(api, "Amina Haddad", "wegzug")
    held = await closed_client(api, "Samir Aziz", "wegzug")
    two_cases = await closed_client(api, "Lina Nowak", "wegzug", "ziele_erreicht")
    achieved = await closed_client(api, "Olena Bondar", "ziele_erreicht")
    still_open = await api.client("Yusuf Demir")
    await api.case(still_open)
    hold = await api.post(f"/clients/{held}/legal-holds", {"reason": "rechtsstreit", "reference": "VG-7-K-123/26"},
                          headers=TEAM_LEAD, expect=201)
    assert [h["reason"] for h in (await api.get(f"/clients/{held}", headers=TEAM_LEAD))["legal_holds"]] == [
        "rechtsstreit"]

    one_year, three_years = start_of(plus_years(TODAY, 1)), start_of(plus_years(TODAY, 3))
    assert await at(api, clock, one_year - timedelta(seconds=1)) == {}
    assert await at(api, clock, one_year) == {moved: "aufbewahrungsfrist"}
    person = await api.get(f"/clients/{moved}", headers=TEAM_LEAD)
    assert person["erased"] is True and set(person["personal"].values()) == {"erased"}
    assert await api.app.state.services.keys.get(moved) is None  # the key is gone, as on an erasure

    await api.post(f"/clients/{held}/legal-holds/{hold['hold_id']}/lift", headers=ADMIN)
    assert await at(api, clock, clock.now()) == {moved: "aufbewahrungsfrist", held: "aufbewahrungsfrist"}

    assert await at(api, clock, three_years - timedelta(seconds=1)) == {moved: "aufbewahrungsfrist",
                                                                         held: "aufbewahrungsfrist"}
    everyone_due = {c: "aufbewahrungsfrist" for c in (moved, held, two_cases, achieved)}
    assert await at(api, clock, three_years) == everyone_due
    assert await at(api, clock, three_years + timedelta(days=3650)) == everyone_due  # each once; the open one never
    assert (await api.get(f"/clients/{still_open}", headers=TEAM_LEAD))["erased"] is False


async def test_a_hold_placed_before_the_period_ends_keeps_the_data_until_it_is_lifted(world):
    api, clock = world
    client_id = await closed_client(api, "Amina Haddad", "wegzug")
    hold = await api.post(f"/clients/{client_id}/legal-holds", {"reason": "pruefung", "reference": "RPA-2026-4"},
                          headers=ADMIN, expect=201)
    assert await at(api, clock, start_of(plus_years(TODAY, 5))) == {}
    await api.post(f"/clients/{client_id}/legal-holds/{hold['hold_id']}/lift", headers=TEAM_LEAD)
    assert await at(api, clock, clock.now()) == {client_id: "aufbewahrungsfrist"}


@pytest.mark.parametrize(("who", "status"), [
    ("case manager", 403), ("auditor", 403), ("other team's lead", 404), ("team lead", 201), ("admin", 201)])
async def test_who_may_place_a_legal_hold(world, who, status):
    api, _ = world
    client_id = await api.client()
    headers = {"case manager": MANAGER, "auditor": AUDITOR, "team lead": TEAM_LEAD, "admin": ADMIN,
               "other team's lead": token(Role.TEAM_LEAD, sub="lead-9", team="stadt-unna",
                                          municipality="05978036")}[who]
    await api.call("POST", f"/clients/{client_id}/legal-holds", expect=status, headers=headers,
                   json={"reason": "behoerdenanfrage", "reference": "Az-12-3"})


async def test_a_legal_hold_needs_a_reason_code_and_a_reference(world):
    api, _ = world
    client_id = await api.client()
    r = await api.call("POST", f"/clients/{client_id}/legal-holds", headers=TEAM_LEAD,
                       json={"reason": "weil", "reference": ""})
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} >= {"reason", "reference"}
    r = await api.call("POST", f"/clients/{client_id}/legal-holds/no-such-hold/lift", headers=TEAM_LEAD)
    assert r.status_code == 409, r.text
