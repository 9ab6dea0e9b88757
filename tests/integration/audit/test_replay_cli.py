"""`kim replay` end to end: from the store and from Kafka, interrupted with Ctrl-C and run again."""

from __future__ import annotations

import asyncio
import re
import signal

import pytest

from kim_runtime import db

from ..runtime.harness import Harness, event, eventually, unique
from . import cli
from .projections import CountPerStream
from .test_replay_store import _counts, _store

pytestmark = [pytest.mark.postgres]
ARGS = ("replay", "audit_counts", "--module", "tests.integration.audit.projections")


def _summary(out: str) -> tuple[int, int, int]:
    m = re.search(r"audit_counts: ([\d,]+) events applied, ([\d,]+) duplicates, ([\d,]+) undecodable", out)
    assert m, out
    return tuple(int(g.replace(",", "")) for g in m.groups())


async def test_ctrl_c_then_run_again_continues_from_the_store(fresh_db):
    pool = await _store(fresh_db, "kim.cases", streams=4, per_stream=500)
    async with pool.acquire() as conn:  # the live tables, as the running service has them
        await CountPerStream("audit_counts", ("kim.cases",)).create_schema(conn)
    # 0.5 s per batch of 20: 50 s for the whole run, so the Ctrl-C surely lands in the middle even on a loaded
    # machine (with 0.05 s a slow first poll once let the run finish before it: exit 0); it costs nothing, the
    # interrupt ends the pause at once and the second run has none
    env = cli.environment(KIM_CASES_DATABASE_URL=fresh_db, KIM_AUDIT_TEST_PAUSE="0.5")
    try:
        proc = await cli.start(*ARGS, "--from", "store", "--batch-size", "20", env=env)

        async def some_progress():
            assert proc.returncode is None, await proc.stderr.read()
            async with pool.acquire() as conn:
                return await conn.fetchval("SELECT count(*) FROM inbox WHERE consumer = 'audit_counts__rebuild'")

        await eventually(some_progress)
        proc.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 130, (out, err)
        assert "run the same command again to continue" in err.decode()
        async with pool.acquire() as conn:
            done_before = await conn.fetchval("SELECT count(*) FROM inbox WHERE consumer = 'audit_counts__rebuild'")
        assert 0 < done_before < 2000
        assert await _counts(pool, "audit_counts") == {}, "the live tables were touched before the swap"

        code, out, err = await cli.run(*ARGS, "--from", "store", "--batch-size", "500",
                                       env=cli.environment(KIM_CASES_DATABASE_URL=fresh_db))
        assert code == 0, err
        assert _summary(out) == (2000 - done_before, 0, 0)
        assert "ev/s" in err  # the progress bar shows the rate
        assert await _counts(pool, "audit_counts") == {f"kim.cases-s{s}": (500, 125250) for s in range(4)}
    finally:
        await pool.close()


@pytest.mark.kafka
async def test_replay_from_kafka_counts_every_event_once(fresh_db, kafka_bootstrap):
    topic = unique("kim.test")
    async with Harness(fresh_db, kafka_bootstrap, topic, unique("kim.dlq")) as h:
        await h.start()
        await h.store.append("s1", [event("s1", n) for n in range(1, 101)], 0)
        await eventually(lambda: _sent(h.pool))
    env = cli.environment(KIM_CASES_DATABASE_URL=fresh_db, KIM_AUDIT_TEST_TOPIC=topic, KIM_KAFKA_BOOTSTRAP=kafka_bootstrap)
    code, out, err = await cli.run(*ARGS, env=env)
    assert code == 0, err
    assert _summary(out) == (100, 0, 0)
    conn = await db.connect(fresh_db)
    try:
        assert await conn.fetchrow("SELECT n, total FROM audit_counts.counts WHERE stream_id = 's1'") == (100, 5050)
    finally:
        await conn.close()


async def _sent(pool) -> bool:
    async with pool.acquire() as conn:
        return await conn.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0


async def test_unknown_projection_says_what_there_is():
    code, out, err = await cli.run("replay", "nope", "--module", "tests.integration.audit.projections",
                                   env=cli.environment())
    assert code == 2
    assert "no projection 'nope'; known projections: audit_counts" in err
