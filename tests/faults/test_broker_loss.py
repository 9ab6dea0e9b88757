"""Losing one of three Kafka brokers under load (issue 21): `kim stack`'s three KRaft nodes on loopback, every topic
with 3 replicas and min.insync.replicas 2, the relays' producers with acks=all. Two cases replicas take a steady load
of commands over HTTP; the broker leading kim.cases partition 0 is killed (-9), stays away long enough for the
cluster to fence it and move its partitions, then comes back.

Asserted: the services accepted commands throughout (also while the broker was away, and with no 5xx), nothing
acknowledged was lost (in the store, in Kafka and handled by the consumer), nothing was applied twice, no record
follows a newer version of its stream, and the next event after the restart is handled end to end. Printed: commands
sent, accepted during the outage, handled during the outage, lost, double-applied, repeats in Kafka.

The three brokers and PostgreSQL of this test listen on the test stack's ports + 200 (node n: + 10*(n-1)), so they
never meet the session's stack or the other fault tests' private one; every process is stopped by pid.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from tests.conftest import TEST_STACK
from tests.faults.rig import TOPIC, PrivateStack, Rig, running
from tests.faults.test_faults import LOAD_S, finish
from tests.polling import eventually

pytestmark = pytest.mark.timeout(300)
HA_PORT_OFFSET = 200
OUTAGE_S = 12.0  # longer than the brokers' session timeout (9 s): the cluster fences the dead node and moves on


def three_broker_stack() -> PrivateStack:
    """`kim stack up --brokers 3` in a folder of its own, on the test stack's ports + HA_PORT_OFFSET."""
    return PrivateStack("faults-ha-", kafka_port=TEST_STACK.kafka_port + HA_PORT_OFFSET,
                        kafka_controller_port=TEST_STACK.kafka_controller_port + HA_PORT_OFFSET,
                        postgres_port=TEST_STACK.postgres_port + HA_PORT_OFFSET, kafka_brokers=3)


@pytest.fixture(scope="module")
def three_brokers() -> Iterator[PrivateStack]:
    with running(three_broker_stack()) as stack:
        yield stack


@pytest.fixture
async def ha_rig(three_brokers: PrivateStack, tmp_path) -> AsyncIterator[Rig]:
    r = Rig(three_brokers, tmp_path)
    try:
        yield r
    finally:
        await r.close()


async def describe(bootstrap: str, topic: str) -> dict:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [meta] = await admin.describe_topics([topic])
        from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

        [configs] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    finally:
        await admin.close()
    entries = {e[0]: e[1] for e in configs.resources[0][4]}
    return {"partitions": meta["partitions"], "min.insync.replicas": entries.get("min.insync.replicas")}


async def test_the_topics_have_three_replicas_and_need_two_in_sync(three_brokers):
    async def described():  # right after start-up a node may not know every partition yet
        topic = await describe(three_brokers.bootstrap, TOPIC)
        return topic if len(topic["partitions"]) == 6 and topic["min.insync.replicas"] else None

    topic = await eventually(described, timeout=30, every=0.2)
    assert {len(p["replicas"]) for p in topic["partitions"]} == {3}
    assert topic["min.insync.replicas"] == "2"


async def test_one_of_three_brokers_killed_and_restarted_under_load(ha_rig: Rig, three_brokers, capsys):
    await ha_rig.start()
    ha_rig.start_load()
    await asyncio.sleep(LOAD_S)
    leaders = {p["partition"]: p["leader"] for p in (await describe(three_brokers.bootstrap, TOPIC))["partitions"]}
    victim = leaders[0]
    fault = ha_rig.fault(f"broker {victim} of 3 kill -9, back after {OUTAGE_S:.0f} s")
    acked_before, answers_before = len(ha_rig.acks), dict(ha_rig.answers)
    three_brokers.kill_kafka(victim)
    await asyncio.sleep(OUTAGE_S)
    accepted_during = len(ha_rig.acks) - acked_before
    outage_answers = {k: v - answers_before.get(k, 0) for k, v in ha_rig.answers.items()}
    await three_brokers.start_kafka(victim)
    fault.ended = time.time()
    await asyncio.sleep(LOAD_S)
    await finish(ha_rig)
    figures = await ha_rig.figures(fault)
    effects = await ha_rig.fetch(ha_rig.recorder_db, "SELECT handled_at FROM effects")
    handled_during = sum(fault.injected <= r["handled_at"].timestamp() <= fault.ended for r in effects)
    with capsys.disabled():
        print(f"\nBROKER LOSS (1 of 3, node {victim}, {OUTAGE_S:.0f} s): commands sent={figures.commands} "
              f"accepted during the outage={accepted_during} handled by the consumer from the kill until the broker was "
              f"back={handled_during} lost={figures.lost} double-applied={figures.double_applied} "
              f"repeats in Kafka={figures.duplicates} reorders={figures.reorders} "
              f"answers during the outage={outage_answers}", flush=True)
    assert accepted_during > 0, "no command was accepted while the broker was away"
    assert not any(k.startswith("5") for k in outage_answers), outage_answers
    assert figures.lost == 0
    assert figures.double_applied == 0
    assert figures.reorders == 0
    assert "500" not in figures.answers, figures.answers
