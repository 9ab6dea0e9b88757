"""`kim bench latency`'s pure parts: percentiles, the slot picker of the command mix, the table."""

from __future__ import annotations

import pytest

from kim_cli import bench_latency as bl


@pytest.mark.parametrize(("values", "q", "expected"), [
    ([], 50, None), ([3.0], 99, 3.0), ([1.0, 2.0, 3.0, 4.0], 50, 2.0), ([1.0, 2.0, 3.0, 4.0], 90, 4.0),
    (list(map(float, range(1, 101))), 99, 99.0), (list(map(float, range(100, 0, -1))), 50, 50.0),
])
def test_percentile_is_nearest_rank(values, q, expected):
    assert bl.percentile(values, q) == expected


def _load() -> bl.Load:
    return bl.Load(api=None, urls={}, dbs={}, bootstrap="")


def test_without_ready_cases_every_slot_registers_a_new_client():
    load = _load()
    assert [load._pick(slot).stage for slot in range(12)] == [0] * 12


def test_a_slot_takes_its_stage_of_the_mix_else_the_furthest_ready_case():
    load = _load()
    flows = {stage: bl.Flow(plan=None, stage=stage) for stage in range(1, len(bl.STAGES))}
    for stage, flow in flows.items():
        load.ready[stage].append(flow)
    assert load._pick(2) is flows[2]  # slot 2 of 6: the consent
    assert load._pick(2) is flows[5]  # no consent ready any more: the furthest case, its closure
    assert load._pick(0) is flows[4]  # slot 0 of 6 is a new client's, but cases are waiting: the referral
    for stage in (1, 3):
        load.ready[stage].clear()
    assert load._pick(6).stage == 0


def test_a_step_counts_errors_unanswered_sends_and_lags_never_below_zero():
    step = bl.Step(rate=10, seconds=2.0, sent=5)
    step.statuses.update({201: 2, 409: 1, 599: 1})
    step.accepted["partner"] = {"a": 10.0, "b": 10.0}
    step.visible["partner"] = {"a": 9.5}  # on the topic before the answer arrived
    summary = step.summary()
    assert summary["accepted"] == 2 and summary["errors"] == {"409": 1, "599": 1} and summary["unanswered"] == 1
    assert summary["achieved_per_s"] == 2.5
    assert summary["visible_ms"]["partner"] == {"p50": 0.0, "p99": 0.0, "count": 1, "missing": 1}
    assert summary["visible_ms"]["reporting"] == {"p50": None, "p99": None, "count": 0, "missing": 0}
    result = {"steps": [summary | {"cpu_percent": {"cases": 1.0}}]}
    text = bl.table(result)
    assert "409:1,599:1,none:1" in text and "0/0 (1 unseen)" in text and "CPU at 10 cmd/s" in text


async def test_a_one_second_step_at_one_command_per_second_lasts_its_second_and_sums_up():
    """`kim bench latency --rates 1 --seconds 1` sent its one command at once and ended the step after ~0 s:
    achieved rate and CPU were divided by zero (ZeroDivisionError)."""
    load = _load()
    sent = []

    async def send(flow, step):
        sent.append(flow.stage)

    load._send = send
    step = bl.Step(rate=1, seconds=1.0)
    await load.run_step(1, 1.0, step, "1 cmd/s")
    summary = step.summary()
    assert sent == [0] and step.sent == 1
    assert step.seconds >= 1.0
    assert 0 < summary["achieved_per_s"] <= 1.0
    assert bl.table({"steps": [summary]}).splitlines()[3].split()[:3] == ["1", str(summary["achieved_per_s"]), "1"]
