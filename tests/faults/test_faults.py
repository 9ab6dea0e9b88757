"""Faults under load: two cases replicas on one database, a steady stream of commands, a consumer that records
every effect, and one fault at a time. Each test prints a figure line (commands sent, lost, duplicates in Kafka,
reorders, double-applied, failover time) and asserts: nothing lost, nothing applied twice, no record in Kafka after a
newer version of its stream, no 500 (503 always with Retry-After), and the next event handled after recovery.

A repeat in Kafka is allowed only where a relay is killed (it may die between publishing a batch and marking it
sent) or the broker is (it may die between writing a batch and acknowledging it, and the relay publishes the batch
again); the consumers' inbox absorbs the repeat. Repeats and reorders count for the fault before them (by the
record's timestamp). Failover times are printed, never asserted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from tests.faults.rig import Fault, Figures, Rig
from tests.polling import eventually

pytestmark = pytest.mark.timeout(300)
LOAD_S = 2.0


def check(rig: Rig, figures: Figures, capsys, fault: str, *, repeats_allowed: bool = False) -> None:
    with capsys.disabled():
        print(f"\n{figures.line(fault)}", flush=True)
    assert figures.commands > 0
    assert figures.lost == 0
    assert figures.double_applied == 0
    assert figures.reorders == 0
    if not repeats_allowed:
        assert figures.duplicates == 0
    assert "500" not in figures.answers and "503 without Retry-After" not in figures.answers, figures.answers


async def under_load(rig: Rig) -> None:
    await rig.start()
    rig.start_load()
    await asyncio.sleep(LOAD_S)


def killed(rig: Rig, name: str, kill: Callable[[], None]) -> Fault:
    fault = rig.fault(name)
    kill()
    fault.ended = fault.injected
    return fault


async def finish(rig: Rig) -> None:
    await rig.stop_load()
    await rig.next_event_handled()
    await rig.drained()


async def test_postgres_restart_with_two_replicas_then_the_leaders_death(rig: Rig, capsys):
    await under_load(rig)
    restart = rig.fault("postgres restart")
    await rig.stack.restart_postgres()
    restart.ended = time.time()
    await asyncio.sleep(LOAD_S)
    leader = await rig.leader()
    kill = killed(rig, "leader kill -9 after the restart", lambda: rig.kill(leader))
    await asyncio.sleep(LOAD_S)
    await finish(rig)
    assert rig.answers["503"] > 0, "no request met the restart: the test proved nothing about 503"
    # /readyz is polled beside the load; a restart shorter than its poll shows no 503 there (seen in a fresh-clone
    # run), so readiness during an outage is asserted in tests/integration/runtime/test_relay_leadership.py, and here
    # only that every 503 it gave carried Retry-After
    assert rig.readyz["503 without Retry-After"] == 0, rig.readyz
    assert [status for status, _, _ in await rig.readiness()] == [200]  # the survivor, ready again
    for fault in rig.faults:
        check(rig, await rig.figures(fault), capsys, fault.name, repeats_allowed=fault is kill)


async def test_leader_kill(rig: Rig, capsys):
    await under_load(rig)
    leader = await rig.leader()
    kill = killed(rig, "leader kill -9", lambda: rig.kill(leader))
    survivor = await rig.leader()
    assert survivor is not leader
    await asyncio.sleep(LOAD_S)
    await finish(rig)
    assert await rig.metric(survivor, "kim_relay_leader") == 1.0
    assert await rig.metric(survivor, "kim_relay_leaderships_total") == 1.0
    assert await rig.metric(survivor, "kim_relay_listening") == 1.0
    check(rig, await rig.figures(kill), capsys, kill.name, repeats_allowed=True)


@pytest.mark.parametrize("rig", [{"recorder_delay_ms": 30}], indirect=True)  # the consumer lags: kills land mid-batch
async def test_consumer_kill_mid_batch(rig: Rig, capsys):
    await under_load(rig)
    await eventually(lambda: _at_least(rig.backlog(), 5), timeout=60)  # fetched records wait to be handled
    kill = killed(rig, "consumer kill -9 mid-batch", rig.kill_recorder)
    await rig.start_recorder()
    await asyncio.sleep(LOAD_S)
    await finish(rig)
    figures = await rig.figures(kill)
    check(rig, figures, capsys, kill.name)
    # a kill that lands between batches redelivers nothing (seen in a fresh-clone run): the figure line says
    # which it was; lost and double-applied are asserted either way
    print(f"consumer kill landed mid-batch: {figures.redelivered > 0}")


async def test_broker_kill_and_restart(rig: Rig, capsys):
    await under_load(rig)
    kill = rig.fault("broker kill -9 and restart")
    rig.stack.kill_kafka()
    acked = len(rig.acks)
    await asyncio.sleep(LOAD_S)
    assert len(rig.acks) > acked, "commands were refused while Kafka was down: the outbox should take them"
    await rig.stack.start_kafka()
    kill.ended = time.time()
    await asyncio.sleep(LOAD_S)
    await finish(rig)
    check(rig, await rig.figures(kill), capsys, kill.name, repeats_allowed=True)


async def _at_least(count, n: int) -> bool:
    return await count >= n


# Poison records (a record that cannot be decoded, a schema it does not match) join this tier with the strict
# decoding of issue 14: publish one with the rig's broker between commands, then assert as `check` does plus
# "parked in kim.dlq.<prefix>" and "the partition moved on" (rig.next_event_handled).
