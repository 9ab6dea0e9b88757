"""`kim bench replay` runs end to end on a small topic (figures are printed, never asserted)."""

from __future__ import annotations

import json

import pytest

from . import cli

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def test_bench_replay_smoke(stack):
    code, out, err = await cli.run("bench", "replay", "--events", "2000", env=cli.environment())
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["benchmark"] == "replay" and summary["events"] == 2000
    assert summary["replayed_all"] is True
    assert {"raw_consumer_events_per_s", "replay_events_per_s", "replay_to_raw_ratio"} <= summary.keys()
