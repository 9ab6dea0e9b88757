"""One finding of every class `kim audit verify` knows, in one store and one run, printed as verify prints them
(the closing note of issue 15 quotes this output).

The store (service cases, topic of its own, one partition) is sealed by a signed anchor, then each class is made by
one change of its own: in PostgreSQL (an event edited without its chain: broken chain; edited and re-chained: edited;
a stream deleted: missing; cut off: truncated; a stream added and dated back: added; a back-dated forged append:
misdated; a contract event without an outbox row: unpublished) or on the topic (an event lost: missing from Kafka;
one changed: differs; one twice: duplicated; a version overtaking another: reordered; a record in the store's own
producer's name: extra; one of another producer: foreign data). `anchor` (a forged or untrusted anchor) makes every
later anchor untrusted, so it hides the anchor findings; tests/integration/audit/test_anchors.py has it.
The store's events are appended with writer seals (as a service process seals them), so the insider's appends
through kim_append (forged-1, forged-2: no seal) and every event changed in the database after it was sealed
(access-c1 v1, access-c3 v2, late v1) are `unsealed` as well."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from kim_cli.audit.anchors import anchor_now, signer
from kim_runtime import db
from kim_runtime.envelope import Envelope
from kim_runtime.kafka import ensure_topics
from kim_runtime.store import EventStore
from kim_runtime.topics import PARTITIONS

from ..runtime.harness import event, raw_producer, unique
from . import cli
from .test_anchors import FIX_HEAD, delete_stream, rechain
from .test_verify_cli import _sql

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

CLASSES = ["broken chain", "misdated", "unpublished", "unsealed", "edited", "missing", "truncated", "added",
           "missing from Kafka", "extra", "foreign data", "differs", "duplicated", "reordered"]
# the insider's two appends, and the three events changed in the database after they were sealed
UNSEALED = [("access-c1", 1, "does not match"), ("access-c3", 2, "does not match"), ("late", 1, "does not match"),
            ("forged-1", 1, "carries no writer seal"), ("forged-2", 1, "carries no writer seal")]


FORGE = ("SELECT out_version FROM kim_append($1, 0, NULL, ARRAY[$2::uuid], ARRAY[$3::text], ARRAY[1], "
         "ARRAY[$4::timestamptz], ARRAY[$5::jsonb], ARRAY[$6::jsonb])")


async def _produce(bootstrap: str, topic: str, records: list[tuple[Envelope, bytes | None]]) -> None:
    async with raw_producer(bootstrap) as producer:
        for e, value in records:
            headers = [(k, v.encode()) for k, v in e.kafka_headers().items()]
            await producer.send_and_wait(topic, value or e.kafka_value(), key=e.kafka_key(), headers=headers,
                                         partition=0)


async def test_one_finding_of_each_class_as_verify_prints_it(fresh_db, kafka_bootstrap, tmp_path):
    topic, anchors, file = unique("kim.test"), unique("kim.test.anchors"), tmp_path / "cases.jsonl"
    await ensure_topics(kafka_bootstrap, {topic: 1, anchors: PARTITIONS["audit"]})
    pool = await db.create_pool(fresh_db)
    try:
        async with pool.acquire() as conn:
            await db.migrate(conn, [])
        # the store seals what it appends with the audit key, as a service's store does
        published = EventStore(pool, topic, writer=signer())
        unpublished = published.routed(None)
        await published.append("s1", [event("s1", n) for n in range(1, 5)], 0)
        await published.append("s2", [event("s2", n) for n in range(1, 3)], 0)
        for stream, n in (("access-c1", 2), ("access-c2", 2), ("access-c3", 2), ("access-c4", 4)):
            await unpublished.append(stream, [event(stream, k) for k in range(1, n + 1)], 0)
        s1, s2 = await published.read_stream("s1"), await published.read_stream("s2")
        async with pool.acquire() as conn:
            await conn.execute("UPDATE outbox SET sent_at = now()")  # as if the relay had sent them all
        await anchor_now("cases", pool, kafka_bootstrap, anchors, file)
        await unpublished.append("late", [event("late", 1)], 0)  # after the anchor, then dated back: added
        async with pool.acquire() as conn:  # forged appends after the anchor, through the append function
            await conn.fetch(FORGE, "forged-1", uuid.uuid4(), "kim.test.Counted", datetime.now(UTC) - timedelta(days=3),
                             {"actor": "staff-9", "source": "/kim/cases"}, {"n": 1})
            await conn.fetch(FORGE, "forged-2", uuid.uuid4(), "kim.cases.GoalAchieved", datetime.now(UTC),
                             {"actor": "staff-9", "source": "/kim/cases"},
                             {"case_id": "c9", "goal_id": "g1", "achieved_on": "2026-01-05"})
    finally:
        await pool.close()

    await _sql(fresh_db,
               "UPDATE events SET data = '{\"n\": 99}' WHERE stream_id = 'access-c3' AND version = 2",  # broken chain
               "UPDATE events SET data = '{\"n\": 99}' WHERE stream_id = 'access-c1' AND version = 1",  # edited, ...
               *rechain("access-c1", range(1, 3)),  # ... and re-chained
               *delete_stream("access-c2"),  # missing
               "DELETE FROM events WHERE stream_id = 'access-c4' AND version > 2",  # truncated ...
               "UPDATE events SET recorded_at = recorded_at - interval '2 days', occurred_at = occurred_at - "
               "interval '2 days' WHERE stream_id = 'late'", *rechain("late", range(1, 2)),  # added, back-dated
               FIX_HEAD)  # ... with every stream head fixed to match
    own = Envelope(type="kim.cases.CaseOpened", source="/kim/cases", stream_id="c-gone", actor="staff-3",
                   data={"case_id": "c-gone"})
    foreign = Envelope(type="kim.test.Counted", source="/kim/load-test", stream_id="t-1", actor="bench",
                       data={"n": 1})
    await _produce(kafka_bootstrap, topic, [
        (s1[0], None), (s1[2], None), (s1[1], None), (s1[3], None), (s1[3], None),  # reordered, duplicated
        (s2[0], json.dumps({"n": 1000}).encode()),  # differs; s2 v2 is never produced: missing from Kafka
        (own, None), (foreign, None)])  # extra, foreign data

    code, out, err = await cli.run("audit", "verify", "--service", "cases", "--topic", f"cases={topic}",
                                   "--anchor-topic", anchors, "--all",
                                   env=cli.environment(KIM_CASES_DATABASE_URL=fresh_db, KIM_KAFKA_BOOTSTRAP=kafka_bootstrap))
    print("\n$ kim audit verify --service cases --topic cases=<topic> --anchor-topic <topic> --all\n" + out)
    assert code == 1, err
    found = [m.group(1) for m in re.finditer(r"^ +\[([A-Za-z ]+)\] cases: ", out, re.MULTILINE)]
    assert sorted(found) == sorted(CLASSES + ["unsealed"] * (len(UNSEALED) - 1)), out
    assert f"{len(CLASSES) + len(UNSEALED) - 1} finding(s)" in out
    unsealed = [line for line in out.splitlines() if "[unsealed]" in line]
    for (stream, version, why), line in zip(UNSEALED, unsealed, strict=True):
        assert f"[unsealed] cases: stream {stream} version {version}, event " in line and why in line, line
    for line in (
        "[broken chain] cases: stream access-c3 version 2: the content does not match its hash",
        "[edited] cases: stream access-c1 version 2: the event's hash differs from the sealed one",
        "[missing] cases: stream access-c2 version 2: the stream is gone from the store; anchor #1 sealed version 2",
        "[truncated] cases: stream access-c4 version 4: the stream ends at version 2",
        "[added] cases: stream late version 1: recorded",
        "[misdated] cases: stream forged-1 version 1, event ",
        "[unpublished] cases: stream forged-2 version 1, event ",
        "[missing from Kafka] cases: stream s2 version 2, event ",
        f"[extra] cases: stream c-gone version 0, event {own.id}, {topic}[0]@6",
        f"[foreign data] cases: stream t-1 version 0, event {foreign.id}, {topic}[0]@7",
        f"[differs] cases: stream s2 version 1, event {s2[0].id}: Kafka and the store differ in value",
        f"[duplicated] cases: event {s1[3].id}, {topic}[0]@4",
        f"[reordered] cases: stream s1 version 2, {topic}[0]@2",
    ):
        assert line in out, line
    assert "by staff-9: kim.test.Counted: occurred_at" in out and "lies 3 days before it was recorded" in out
    assert "from /kim/load-test: on" in out and "1 record(s) from /kim/load-test in no store from 20" in out

    code, out, err = await cli.run("audit", "verify", "--service", "cases", "--topic", f"cases={topic}",
                                   "--anchor-topic", anchors, "--format", "json",
                                   env=cli.environment(KIM_CASES_DATABASE_URL=fresh_db, KIM_KAFKA_BOOTSTRAP=kafka_bootstrap))
    document, _ = json.JSONDecoder().raw_decode(out)
    assert sorted(f["kind"] for f in document["findings"]) == sorted(CLASSES + ["unsealed"] * (len(UNSEALED) - 1))
