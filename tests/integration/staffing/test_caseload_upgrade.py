"""Upgrading a staffing database from before the caseload policy was a projection: the rows of the old tables in
`public` move into the `caseload` schema at the first start (and the old tables are left empty), so the service
goes on with the caseload it had; a later start moves nothing again."""

from __future__ import annotations

import pytest
from kim_runtime.auth import Role

from ..db_rows import fetch
from .conftest import running, token, uid

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def test_the_first_start_moves_the_old_caseload_rows_into_the_schema(fresh_db, kafka_bootstrap):
    staff, case = uid("cm"), uid("case")
    async with running(fresh_db, kafka_bootstrap):
        pass  # migrations made the old public tables (empty): the database of a service that ran before
    await fetch(fresh_db,
                f"INSERT INTO public.caseload_cases (case_id, staff_member_id, municipality, baustein, status, "
                f"manager_since, team_organisation_id) VALUES ('{case}', '{staff}', '05978024', '2', 'open', "
                "'2025-03-01T10:00:00Z', 'kreis-unna')",
                f"INSERT INTO public.caseloads (staff_member_id, active_cases, vza_share, case_limit, over_limit) "
                f"VALUES ('{staff}', 1, 1, 40, false)",
                "DELETE FROM caseload.caseload_cases", "DELETE FROM caseload.caseloads")

    async with running(fresh_db, kafka_bootstrap) as api:
        r = await api.get(f"/caseloads/{staff}", headers=token(Role.TEAM_LEAD))
        assert r.status_code == 200, r.text
        assert (r.json()["active_cases"], r.json()["over_limit"]) == (1, False)
    moved, left = await fetch(fresh_db, "SELECT case_id, staff_member_id, status FROM caseload.caseload_cases",
                              "SELECT (SELECT count(*) FROM public.caseload_cases) + "
                              "(SELECT count(*) FROM public.caseloads)")
    assert moved == [(case, staff, "open")] and left == [(0,)]

    async with running(fresh_db, kafka_bootstrap):
        pass
    [again] = await fetch(fresh_db, "SELECT count(*) FROM caseload.caseload_cases")
    assert again == [(1,)]
