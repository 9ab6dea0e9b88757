"""With the real cases service: cases opened, transferred and closed there move the caseload here, over Kafka."""

from __future__ import annotations

import contextlib
import uuid

import httpx
import pytest
from kim_cases.bootstrap import build_app as build_cases_app
from kim_cases.settings import CasesSettings
from kim_cli.stack import create_database, drop_database
from kim_runtime.auth import Principal, Role, issue_token

from .conftest import SECRET, eventually, running, uid

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

LUENEN = "05978024"


@contextlib.asynccontextmanager
async def cases_service(stack):
    name = f"kim_test_cases_{uuid.uuid4().hex[:12]}"
    await create_database(stack.postgres_url, name)
    try:
        app = build_cases_app(CasesSettings(database_url=stack.database_url(name),
                                            kafka_bootstrap=stack.kafka_bootstrap, auth_secret=SECRET))
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cases") as http:
                http.database_url = stack.database_url(name)  # for a test that reads its store (kim replay)
                yield http
    finally:
        await drop_database(stack.postgres_url, name)


def as_manager(sub: str) -> dict[str, str]:
    principal = Principal(sub=sub, role=Role.CASE_MANAGER, team="stadt-luenen", municipality=LUENEN)
    return {"Authorization": f"Bearer {issue_token(SECRET, principal)}"}


async def open_case(cases: httpx.AsyncClient, headers) -> str:
    client = await cases.post("/clients", json={"name": "Test Person", "languages": ["de"]}, headers=headers)
    assert client.status_code == 201, client.text
    body = {"client_id": client.json()["client_id"], "municipality": LUENEN, "team": "stadt",
            "team_organisation_id": "stadt-luenen", "access_channel": "jobcenter", "opened_on": "2025-02-01"}
    case = await cases.post("/cases", json=body, headers=headers)
    assert case.status_code == 201, case.text
    return case.json()["case_id"]


async def test_caseload_follows_the_cases_service(stack, fresh_db, kafka_bootstrap):
    anna, ben = uid("cm"), uid("cm")
    async with cases_service(stack) as cases, running(fresh_db, kafka_bootstrap, caseload_limit_per_vza=1) as staffing:
        read = as_manager(anna)

        async def load(staff: str, active: int):
            r = await staffing.get(f"/caseloads/{staff}", headers=read)
            return r.json() if r.status_code == 200 and r.json()["active_cases"] == active else None

        first, second = await open_case(cases, as_manager(anna)), await open_case(cases, as_manager(anna))
        assert (await eventually(lambda: load(anna, 2)))["over_limit"] is True

        moved = await cases.post(f"/cases/{second}/transfer", headers=as_manager(anna), json={
            "municipality": LUENEN, "team": "stadt", "team_organisation_id": "stadt-luenen", "case_manager_id": ben,
            "transferred_on": "2025-03-01"})
        assert moved.status_code == 200, moved.text
        assert (await eventually(lambda: load(anna, 1)))["over_limit"] is False
        await eventually(lambda: load(ben, 1))

        closed = await cases.post(f"/cases/{first}/closure", headers=as_manager(anna),
                                  json={"reason": "regeldienste", "closed_on": "2025-04-01"})
        assert closed.status_code == 200, closed.text
        await eventually(lambda: load(anna, 0))

        events = await staffing.app.state.runtime.store.read_stream(anna)
        assert [e.type.rsplit(".", 1)[1] for e in events] == ["CaseloadLimitExceeded", "CaseloadBackWithinLimit"]
        assert events[0].causation_id and events[0].correlation_id  # traced back to the cases command
