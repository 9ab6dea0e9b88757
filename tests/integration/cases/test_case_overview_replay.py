"""`kim replay` of the cases service's own projections opens their sealed dates and codes with the clients' keys
(contract 5.0.0 seals them on kim.cases and in the store): a case overview built live, its schema dropped, is rebuilt
by `kim replay --service cases --from store` with the same rows, opening and closing days and closure reason
included, twice, appending nothing. Without a key-encryption key the replay says the dates stay sealed."""

from __future__ import annotations

import pytest

from ..audit import cli
from ..db_rows import count_events, drop_schema, fetch
from ..staffing.conftest import eventually
from ..staffing.test_with_cases_service import as_manager, cases_service, open_case

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
COLUMNS = ("case_id, client_id, municipality, team, team_organisation_id, case_manager_id, baustein, phase_rank, "
           "paused, opened_on, closed_on, closure_reason, version")  # all but updated_at


async def rows(dsn: str, cases: list[str]) -> dict[str, list[tuple]]:
    """The test's cases: the live projection also consumes other tests' cases from the shared test broker's topic."""
    (found,) = await fetch(dsn, f"SELECT {COLUMNS} FROM case_overview.cases ORDER BY case_id")
    return {"cases": [r for r in found if r[0] in cases]}


async def test_replay_opens_the_sealed_dates_of_the_case_overview(stack):
    headers = as_manager("cm-replay")
    async with cases_service(stack) as cases:
        opened = [await open_case(cases, headers) for _ in range(2)]
        closed = await cases.post(f"/cases/{opened[1]}/closure", headers=headers,
                                  json={"reason": "regeldienste", "closed_on": "2025-04-01"})
        assert closed.status_code == 200, closed.text

        async def built():
            found = (await rows(cases.database_url, opened))["cases"]
            return found if len(found) == 2 and any(r[11] for r in found) else None

        live = await eventually(built)
        assert {str(r[9]) for r in live} == {"2025-02-01"} and {r[11] for r in live} == {None, "regeldienste"}
        env = cli.environment(KIM_CASES_DATABASE_URL=cases.database_url)
        events = await count_events(cases.database_url)
        for run in (1, 2):
            await drop_schema(cases.database_url, "case_overview")
            code, out, err = await cli.run("replay", "case_overview", "--from", "store", env=env)
            assert code == 0, err
            assert "case_overview: " in out and "swapped in" in out, out
            assert (await rows(cases.database_url, opened))["cases"] == live, f"replay {run} rebuilt other rows"
            assert await count_events(cases.database_url) == events, f"replay {run} appended events"

        await drop_schema(cases.database_url, "case_overview")
        code, out, err = await cli.run("replay", "case_overview", "--from", "store", env=env | {
            "KIM_ENV": "production", "KIM_MASTER_KEY": "", "KIM_MASTER_KEY_FILE": "",
            "KIM_STACK_DIR": "/nonexistent-kim-stack"})
        assert code == 0, err
        assert "stay sealed" in err or "sealed" in err, err
        rebuilt = (await rows(cases.database_url, opened))["cases"]
        assert [r[0] for r in rebuilt] == [r[0] for r in live]
        assert {r[9] for r in rebuilt} == {None} and {r[11] for r in rebuilt} == {None}
