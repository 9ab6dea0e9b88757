"""A case manager sees the cases of their own team or municipality; auditors and admins see all."""

from __future__ import annotations

import pytest

from .conftest import ADMIN, AUDITOR, OTHER_MANAGER, UNNA, Api, token
from .kafka_tail import eventually

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def test_the_case_list_is_scoped_to_team_or_municipality(api: Api):
    luenen = await api.case(await api.client("A"))
    other = await _unna_case(api)
    county_in_unna = token(sub="staff-7", team="kreis-unna", municipality=UNNA)

    async def ids(headers) -> set[str]:
        return {r["case_id"] for r in await api.get("/cases", headers=headers)}

    await eventually(lambda: _has(api, {luenen, other}))
    assert luenen in await ids(None) and other not in await ids(None)
    assert other in await ids(OTHER_MANAGER) and luenen not in await ids(OTHER_MANAGER)
    assert other in await ids(county_in_unna)
    assert {luenen, other} <= await ids(AUDITOR)
    in_intake = await api.get("/cases", headers=ADMIN, params={"phase": "intake"})
    assert {luenen, other} <= {r["case_id"] for r in in_intake}
    assert not {luenen, other} & {r["case_id"] for r in await api.get("/cases", headers=ADMIN,
                                                                      params={"phase": "closed"})}


async def _unna_case(api: Api) -> str:
    client_id = (await api.post("/clients", {"name": "B"}, expect=201, headers=OTHER_MANAGER))["client_id"]
    body = {"client_id": client_id, "municipality": UNNA, "team": "stadt", "team_organisation_id": "stadt-unna",
            "access_channel": "selbstmeldung"}
    return (await api.post("/cases", body, expect=201, headers=OTHER_MANAGER))["case_id"]


async def _has(api: Api, case_ids: set[str]) -> bool:
    return case_ids <= {r["case_id"] for r in await api.get("/cases", headers=ADMIN)}
