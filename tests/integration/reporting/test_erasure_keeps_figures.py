"""Erasing clients changes no figure (issue 15): reporting counts from codes and dates of the casework, never from
what erasure destroys, so every indicator cell is the same before and after every client of the history is erased."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from kim_schemas import cases as c

from .conftest import auth
from .history import History, generate

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

PARAMS = {"period": "quarter", "from": "2024-01-01", "to": "2025-06-30", "by": "municipality,baustein"}


async def _cells(reporting) -> list[dict]:
    response = await reporting.client.get("/indicators", params=PARAMS, headers=auth())
    assert response.status_code == 200, response.text
    return response.json()["cells"]


async def test_indicators_are_unchanged_by_erasing_every_client(reporting):
    history = generate(seed=11, clients=80, positions=6)
    await reporting.publish(history)
    await reporting.caught_up()
    before = await _cells(reporting)
    assert any(cell["value"] not in (None, 0, "0") for cell in before), "figures to compare"

    clients = [e for e in history.events["cases"] if e.type == "kim.cases.ClientRegistered"]
    erasures = History(history.topic_suffix)
    for registered in clients:
        erasures.add("cases", c.ClientErased(
            client_id=registered.stream_id, key_id=registered.data["personal"]["key_id"],
            erased_at=datetime(2025, 7, 1, tzinfo=UTC), ground="zweck_entfallen", request_reference="DSGVO-1"),
            subject=registered.stream_id)
        erasures.events["cases"][-1] = erasures.events["cases"][-1].model_copy(update={"stream_version": 2})
    await reporting.publish(erasures)
    await reporting.caught_up()
    assert await _cells(reporting) == before
