"""Signed anchors against an insider with database access (issue 15): on a real store and broker, `kim audit anchor`
seals the store, then each rewrite that leaves every hash chain intact (a whole stream deleted, an event edited and
the chain recomputed, the end of a stream cut off with its head fixed, a back-dated stream added) is found by
`kim audit verify` with the stream, version and anchor that prove it; so is a forged anchor file."""

from __future__ import annotations

import json

import pytest

from kim_cli.audit.anchors import anchor_now
from kim_cli.audit.verify_report import AnchorSource, verify_all
from kim_runtime import db
from kim_runtime.anchor import Signer, public_text
from kim_runtime.kafka import ensure_topics
from kim_runtime.store import EventStore
from kim_runtime.topics import PARTITIONS

from ..runtime.harness import event, unique
from . import cli
from .test_verify_cli import _published_store, _sql

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

RECHAIN = """
UPDATE events e SET prev_hash = coalesce((SELECT hash FROM events p WHERE p.stream_id = e.stream_id
                                          AND p.version = e.version - 1), '\\x'::bytea),
                    hash = sha256(coalesce((SELECT hash FROM events p WHERE p.stream_id = e.stream_id
                                            AND p.version = e.version - 1), '\\x'::bytea)
                                  || kim_event_digest_input(event_id, stream_id, version, type, schema_version,
                                                            occurred_at, metadata, data))
WHERE stream_id = '{stream}' AND version = {version}
"""
FIX_HEAD = ("UPDATE streams s SET version = l.version, last_hash = l.hash FROM (SELECT DISTINCT ON (stream_id) "
            "stream_id, version, hash FROM events ORDER BY stream_id, version DESC) l WHERE l.stream_id = s.stream_id")


def rechain(stream: str, versions: range) -> list[str]:
    return [RECHAIN.format(stream=stream, version=v) for v in versions] + [FIX_HEAD]


def delete_stream(stream: str) -> list[str]:
    return [f"DELETE FROM outbox WHERE position IN (SELECT position FROM events WHERE stream_id = '{stream}')",
            f"DELETE FROM events WHERE stream_id = '{stream}'", f"DELETE FROM streams WHERE stream_id = '{stream}'"]


REWRITES = {
    "a whole stream deleted": (delete_stream("s2"), "[missing] cases: stream s2 version 3: the stream is gone"),
    "an event edited and the chain recomputed": (
        ["UPDATE events SET data = jsonb_set(data, '{n}', '99') WHERE stream_id = 's1' AND version = 2",
         *rechain("s1", range(2, 6))],
        "[edited] cases: stream s1 version 5: the event's hash differs from the sealed one"),
    "the end of a stream cut off and its head fixed": (
        ["DELETE FROM outbox WHERE position IN (SELECT position FROM events WHERE stream_id = 's1' AND version > 3)",
         "DELETE FROM events WHERE stream_id = 's1' AND version > 3", FIX_HEAD],
        "[truncated] cases: stream s1 version 5: the stream ends at version 3"),
    "an unpublished stream deleted": (delete_stream("access-c1"),
                                      "[missing] cases: stream access-c1 version 2: the stream is gone"),
    "the store passed off as another (its id replaced)": (
        ["UPDATE audit_store SET id = gen_random_uuid()"], "[anchor] cases: no anchor names this store"),
    "a back-dated stream added": (
        ["UPDATE events SET recorded_at = recorded_at - interval '2 days' WHERE stream_id = 'late'"],
        "[added] cases: stream late version 1: recorded"),
}


async def _sealed_store(dsn: str, bootstrap: str, tmp_path, *, by_cli: bool = False) -> tuple[str, str, object]:
    """Streams s1 (5 events) and s2 (3), published; access-c1 (2), never published; sealed by `kim audit anchor`
    (in this process unless `by_cli`)."""
    topic, anchors, file = unique("kim.test"), unique("kim.test.anchors"), tmp_path / "cases.jsonl"
    await ensure_topics(bootstrap, {anchors: PARTITIONS["audit"]})  # brokers never auto-create a topic
    await _published_store(dsn, bootstrap, topic)
    pool = await db.create_pool(dsn)
    try:
        await EventStore(pool, None).append("access-c1", [event("access-c1", n) for n in (1, 2)], 0)
        if not by_cli:
            said = await anchor_now("cases", pool, bootstrap, anchors, file)
    finally:
        await pool.close()
    if by_cli:
        code, said, err = await cli.run("audit", "anchor", "--service", "cases", "--anchor-topic", anchors,
                                        "--file", str(file), env=_env(dsn, bootstrap))
        assert code == 0, err
    assert "cases: anchor #1 written" in said and "10 events in 3 streams" in said
    return topic, anchors, file


def _env(dsn: str, bootstrap: str) -> dict[str, str]:
    return cli.environment(KIM_CASES_DATABASE_URL=dsn, KIM_KAFKA_BOOTSTRAP=bootstrap)


async def _verify(dsn, bootstrap, topic, anchors, *extra) -> tuple[int, str]:
    code, out, err = await cli.run("audit", "verify", "--service", "cases", "--topic", f"cases={topic}",
                                   "--anchor-topic", anchors, *extra, env=_env(dsn, bootstrap))
    assert code in (0, 1), err
    return code, out


async def _verify_here(monkeypatch, dsn: str, file, *public_keys: str) -> tuple[int, str]:
    """`kim audit verify --service cases --no-kafka --anchors FILE`, in this process."""
    monkeypatch.setenv("KIM_CASES_DATABASE_URL", dsn)
    lines: list[str] = []
    findings = await verify_all(["cases"], {}, None, lines.append, AnchorSource("unused", file, public_keys))
    return len(findings), "\n".join(lines)


async def test_a_sealed_store_verifies_from_the_topic_and_from_the_file(fresh_db, kafka_bootstrap, tmp_path):
    topic, anchors, file = await _sealed_store(fresh_db, kafka_bootstrap, tmp_path, by_cli=True)
    for extra in ((), ("--anchors", str(file))):
        code, out = await _verify(fresh_db, kafka_bootstrap, topic, anchors, *extra)
        assert code == 0, out
        assert "cases: 1 anchor(s); the latest, #1 of" in out and "seals 10 events in 3 streams" in out


@pytest.mark.parametrize("how", REWRITES)
async def test_a_rewrite_that_keeps_every_chain_intact_is_found_by_the_anchor(fresh_db, kafka_bootstrap, tmp_path,
                                                                                monkeypatch, how):
    _, _, file = await _sealed_store(fresh_db, kafka_bootstrap, tmp_path)
    statements, finding = REWRITES[how]
    if how == "a back-dated stream added":
        pool = await db.create_pool(fresh_db)
        try:
            await EventStore(pool, None).append("late", [event("late", 1)], 0)
        finally:
            await pool.close()
    await _sql(fresh_db, *statements)
    findings, out = await _verify_here(monkeypatch, fresh_db, file)
    assert "every hash chain holds" in out  # the insider did the chain right: only the anchor sees it
    if how == "a back-dated stream added":  # moving recorded_at back also parts it from the event's own time
        assert findings == 2 and "[misdated] cases: stream late version 1" in out, out
    else:
        assert findings == 1, out
    assert finding in out, out


async def test_a_forged_anchor_file_is_found(fresh_db, kafka_bootstrap, tmp_path, monkeypatch):
    _, _, file = await _sealed_store(fresh_db, kafka_bootstrap, tmp_path)
    lines = file.read_text().splitlines()
    anchor = json.loads(lines[-1])
    anchor["body"]["events"] += 1
    file.write_text("\n".join([*lines[:-1], json.dumps(anchor)]) + "\n")
    findings, out = await _verify_here(monkeypatch, fresh_db, file)
    print(f"\n{out}")  # the closing note of issue 15 quotes the [anchor] line
    assert findings == 1
    assert "[anchor] cases: anchor #1 of" in out and "the signature does not match" in out


async def test_anchors_are_trusted_only_under_the_given_public_key(fresh_db, kafka_bootstrap, tmp_path, monkeypatch):
    _, _, file = await _sealed_store(fresh_db, kafka_bootstrap, tmp_path)
    findings, out = await _verify_here(monkeypatch, fresh_db, file, public_text(Signer.generate()[0].public))
    assert findings == 1 and "which is not a trusted audit key" in out
