"""Every indicator served equals a plain recomputation from the full event history (hundreds of clients)."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from kim_reporting.application.indicators import Scope, compute
from kim_reporting.projections import projections_for
from kim_reporting.settings import ReportingSettings
from kim_runtime import db
from kim_runtime.rebuild import rebuild_from_kafka
from kim_runtime.topics import service_topic
from kim_reporting.domain.catalogue import BY_NAME
from kim_reporting.domain.periods import PeriodKind, periods_between

from .conftest import auth
from .history import END, START, generate
from .kafka_io import create_topics, produce
from .recompute import recompute

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def served(cells) -> dict:
    return {c.key(): (None if c.suppressed else c.value, c.suppressed) for c in cells}


def assert_same(got: dict, expected: dict) -> None:
    missing, extra = expected.keys() - got.keys(), got.keys() - expected.keys()
    assert not missing, f"{len(missing)} cells not served, e.g. {sorted(missing)[:5]}"
    assert not extra, f"{len(extra)} cells served that the history does not give, e.g. {sorted(extra)[:5]}"
    wrong = []
    for key, (value, suppressed) in expected.items():
        g_value, g_suppressed = got[key]
        tolerance = 10 ** -BY_NAME[key[0]].decimals
        if g_suppressed != suppressed or (value is not None and abs(g_value - value) > tolerance):
            wrong.append((key, got[key], (value, suppressed)))
    assert not wrong, f"{len(wrong)} cells differ (key, served, recomputed), e.g. {wrong[:5]}"


async def test_every_indicator_equals_a_recomputation_from_the_history(fresh_db, kafka_bootstrap):
    """Hundreds of clients, cases, referrals and positions, projected with apply_batch (a rebuild from offset 0)."""
    suffix = f".t{uuid.uuid4().hex[:10]}"
    history = generate(seed=7, clients=300, positions=40)
    await create_topics(kafka_bootstrap, suffix)
    for service, events in history.events.items():
        await produce(kafka_bootstrap, service_topic(service) + suffix, events)
    pool = await db.create_pool(fresh_db)
    try:
        async with pool.acquire() as conn:
            await db.migrate(conn, ["kim_reporting"])
        settings = ReportingSettings(topic_suffix=suffix)
        for projection in projections_for(settings):
            result = await rebuild_from_kafka(projection, pool, kafka_bootstrap)
            assert result.events_applied == len(history.events.get(projection.name.split("_")[1], []))
        async with pool.acquire() as conn:
            await check_all_periods(conn, history)
    finally:
        await pool.close()


async def check_all_periods(conn, history) -> None:
    cells_checked = 0
    for kind in (PeriodKind.MONTH, PeriodKind.QUARTER, PeriodKind.YEAR):
        periods = periods_between(kind, START, END)
        got = served(await compute(conn, periods, Scope(every_breakdown=True)))
        expected = recompute(history, periods)
        assert_same(got, expected)
        cells_checked += len(expected)
    names = {key[0] for key in expected}
    assert names == set(BY_NAME), f"indicators never served: {set(BY_NAME) - names}"
    assert any(s for _, s in expected.values()) and any(not s for _, s in expected.values())
    print(f"{cells_checked} cells equal the recomputation")


async def test_the_live_projections_and_the_api_serve_the_same_cells_as_the_recomputation(reporting):
    history = generate(seed=11, clients=90, positions=10)
    await reporting.publish(history)
    await reporting.caught_up()
    async with reporting.service.runtime.pool.acquire() as conn:
        await check_all_periods(conn, history)
    response = await reporting.client.get(
        "/indicators", params={"period": "quarter", "from": "2024-01-01", "to": "2025-06-30", "by": "municipality"},
        headers=auth())
    assert response.status_code == 200, response.text
    body = response.json()
    expected = {k: v for k, v in recompute(history, periods_between(PeriodKind.QUARTER, START, END)).items()
                if k[2] and not k[3]}  # broken down by municipality, all Bausteine
    got = {(c["indicator"], c["period"], c["municipality"], c["baustein"] or "",
            tuple(sorted(c["dimensions"].items()))): (c["value"], c["suppressed"]) for c in body["cells"]}
    assert_same(got, expected)
    assert all(c["value"] is None for c in body["cells"] if c["suppressed"])
    assert {p["period"] for p in body["periods"]} == {f"{y}-Q{q}" for y in (2024, 2025) for q in (1, 2, 3, 4)
                                                       if date(y, 3 * q - 2, 1) <= END}
