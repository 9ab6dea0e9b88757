"""A rebuild fills fresh tables from offset zero while the old ones keep serving, then swaps: readers see no gap."""

from __future__ import annotations

import asyncio

import pytest

from kim_runtime.auth import Role

from ..runtime.harness import eventually
from .conftest import auth
from .history import generate

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
PARAMS = {"period": "year", "from": "2024-01-01", "to": "2025-12-31",
          "indicator": ["active_cases", "intakes", "referrals", "vza_filled"]}


def figures(body: dict) -> dict:
    return {(c["indicator"], c["period"], tuple(c["dimensions"].items())): c["value"] for c in body["cells"]}


async def test_rebuild_swaps_in_fresh_tables_while_readers_keep_getting_answers(reporting):
    history = generate(seed=21, clients=50, positions=6)
    await reporting.publish(history)
    await reporting.caught_up()
    client = reporting.client
    correct = figures((await client.get("/indicators", params=PARAMS, headers=auth())).json())
    assert correct[("intakes", "2024", (("access_channel", "jobcenter"),))] is not None
    async with reporting.service.runtime.pool.acquire() as conn:  # damage the live view, as a bug would
        await conn.execute("DELETE FROM reporting_cases.cases WHERE access_channel = 'jobcenter'")
        await conn.execute("DELETE FROM reporting_referrals.referrals")
    damaged = figures((await client.get("/indicators", params=PARAMS, headers=auth())).json())
    assert damaged != correct

    seen: list[dict] = []
    stop = asyncio.Event()

    async def reader() -> None:
        while not stop.is_set():
            response = await client.get("/indicators", params=PARAMS, headers=auth("cm-1", Role.CASE_MANAGER))
            assert response.status_code == 200, response.text
            seen.append(figures(response.json()))

    readers = [asyncio.create_task(reader()) for _ in range(2)]
    assert (await client.post("/admin/rebuild", headers=auth())).status_code == 403
    started = await client.post("/admin/rebuild", headers=auth("admin-1", Role.ADMIN))
    assert started.status_code == 202, started.text
    busy = await client.post("/admin/rebuild", headers=auth("admin-1", Role.ADMIN))
    assert busy.status_code == 409

    async def finished():
        state = (await client.get("/admin/rebuild", headers=auth("admin-1", Role.ADMIN))).json()
        assert state["status"] != "failed", state
        return state if state["status"] == "done" else None

    state = await eventually(finished, timeout=60)
    stop.set()
    await asyncio.gather(*readers)
    assert [r["events"] for r in state["results"]] == [
        len(history.events["cases"]), len(history.events["referrals"]), len(history.events["staffing"]), 0]
    assert figures((await client.get("/indicators", params=PARAMS, headers=auth())).json()) == correct
    # each projection swaps on its own, atomically: every figure a reader saw is the old one or the rebuilt one
    def whole(snapshot: dict) -> bool:
        return snapshot.keys() <= damaged.keys() | correct.keys() and all(
            v in (damaged.get(k), correct.get(k)) for k, v in snapshot.items())
    bad = [{k: (v, damaged.get(k), correct.get(k)) for k, v in s.items() if v not in (damaged.get(k), correct.get(k))}
           for s in seen if not whole(s)]
    assert seen and not bad, f"a reader saw a half-built or empty view: {bad[:2]}"
    assert all(any(k[0] == name for k in s) for s in seen for name in ("active_cases", "vza_filled"))
    # the live consumer goes on in the swapped-in tables
    more = generate(seed=22, clients=10, positions=1)
    await reporting.publish(more)
    await reporting.caught_up()
    after = figures((await client.get("/indicators", params=PARAMS, headers=auth())).json())
    assert after != correct
