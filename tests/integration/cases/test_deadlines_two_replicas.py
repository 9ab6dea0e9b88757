"""Two replicas of the cases service on one database, one moved clock (issue 19): every consent expires exactly once
(one ConsentExpired per consent, whichever replica fired it; both are woken by the clock at the same moment). The
runtime's own test (tests/integration/runtime/test_scheduler.py) shows two workers splitting one batch of deadlines."""

from __future__ import annotations

import contextlib
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from kim_runtime.scheduler import ManualClock, start_of

from kim_cases.bootstrap import build_app
from kim_cases.settings import CasesSettings
from tests.scheduling import settled

from .conftest import SECRET, Api

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
CONSENTS = 24


@contextlib.asynccontextmanager
async def replica(dsn: str, bootstrap: str, clock: ManualClock):
    app = build_app(CasesSettings(database_url=dsn, kafka_bootstrap=bootstrap, auth_secret=SECRET))
    app.state.runtime.clock = clock
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cases") as http:
            yield Api(http, app)


async def test_two_replicas_expire_each_consent_once(fresh_db, kafka_bootstrap):
    clock = ManualClock(datetime.now(UTC))
    until = date.today() + timedelta(days=10)
    async with replica(fresh_db, kafka_bootstrap, clock) as a, replica(fresh_db, kafka_bootstrap, clock) as b:
        for n in range(CONSENTS):
            api = (a, b)[n % 2]
            case_id = await api.case(await api.client(f"Person {n}"))
            await api.consent(case_id, granted_on=date.today().isoformat(), valid_until=until.isoformat())
        clock.set(start_of(until + timedelta(days=1)))
        for api in (a, b):
            await settled(api.app.state.runtime.scheduler)
        async with a.app.state.runtime.pool.acquire() as conn:
            expired = await conn.fetch("SELECT data->>'consent_id' AS c FROM events "
                                       "WHERE type = 'kim.cases.ConsentExpired'")
        fired = [api.app.state.runtime.scheduler.fired for api in (a, b)]
    assert len(expired) == len({r["c"] for r in expired}) == CONSENTS
    assert sum(fired) == CONSENTS
    print(f"\ntwo cases replicas expired {CONSENTS} consents: {fired[0]} + {fired[1]}")
