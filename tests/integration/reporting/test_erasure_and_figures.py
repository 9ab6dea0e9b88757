"""Erasure and the figures (issue 15, item 5): the dates and codes reporting counts are sealed per client, and an
erasure takes them with the client's key. Reporting deletes every row of an erased client's cases (they single the
person out), so the figures of past periods then count the remaining clients, and those exactly as before: their
rows are untouched, row by row."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import pytest
from kim_schemas import cases as c

from kim_reporting.adapters.projections.cases import TABLES

from .conftest import auth
from .history import History, generate

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

PARAMS = {"period": "quarter", "from": "2024-01-01", "to": "2025-06-30", "by": "municipality,baustein"}


async def _cells(reporting) -> list[dict]:
    response = await reporting.client.get("/indicators", params=PARAMS, headers=auth())
    assert response.status_code == 200, response.text
    return response.json()["cells"]


async def _rows(dsn: str) -> dict[str, set[tuple]]:
    """Every row of the cases projection's tables, with the client each belongs to."""
    conn = await asyncpg.connect(dsn)
    try:
        out = {}
        for table in TABLES:
            cols = ", ".join(f"t.{name}" for name, _ in table.columns)
            if table.name == "cases":
                sql = f"SELECT t.client_id, {cols} FROM reporting_cases.cases t"
            else:
                sql = (f"SELECT k.client_id, {cols} FROM reporting_cases.{table.name} t "
                       "LEFT JOIN reporting_cases.cases k USING (case_id)")
            out[table.name] = {tuple(r) for r in await conn.fetch(sql)}
        return out
    finally:
        await conn.close()


async def test_erasing_clients_deletes_their_rows_and_leaves_the_others_figures_as_they_were(reporting, fresh_db):
    history = generate(seed=11, clients=80, positions=6)
    await reporting.publish(history)
    await reporting.caught_up()
    before_cells, before = await _cells(reporting), await _rows(fresh_db)
    assert any(cell["value"] not in (None, 0, "0") for cell in before_cells), "figures to compare"

    clients = [e for e in history.events["cases"] if e.type == "kim.cases.ClientRegistered"]
    erased = {r.stream_id for r in clients[::2]}  # every second client
    erasures = History(history.topic_suffix)
    for registered in clients[::2]:
        erasures.add("cases", c.ClientErased(
            client_id=registered.stream_id, key_id=registered.data["personal"]["key_id"],
            erased_at=datetime(2025, 7, 1, tzinfo=UTC), ground="zweck_entfallen"),
            subject=registered.stream_id)
        erasures.events["cases"][-1] = erasures.events["cases"][-1].model_copy(update={"stream_version": 2})
    await reporting.publish(erasures)
    await reporting.caught_up()
    after = await _rows(fresh_db)

    assert any(r[0] in erased for r in before["cases"]) and any(r[0] not in erased for r in before["cases"])
    for table, rows in before.items():
        kept = {r for r in rows if r[0] not in erased}
        assert after[table] == kept, f"{table}: the erased clients' rows are gone, the others' unchanged"
    assert await _cells(reporting) != before_cells  # the erased clients are no longer counted in past periods
