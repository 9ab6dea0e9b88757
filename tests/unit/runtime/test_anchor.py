"""Signed anchors among themselves (kim_runtime.anchor): the Merkle root, signatures, the chain of anchors, and every
way an anchor log can be cut, forged or padded. The store side runs on PostgreSQL (tests/integration/audit)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from kim_runtime.anchor import (AnchorKeyError, HeadsRecord, Signer, check_log, load_signer, merkle_root,
                                parse_public_keys, parse_record, public_text, seal)

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
STORE = "5d1c1f5e-0000-4000-8000-000000000001"


def head(stream: str, version: int) -> tuple[str, int, str]:
    return stream, version, hashlib.sha256(f"{stream}/{version}".encode()).hexdigest()


def history(signer: Signer, steps: list[list[tuple[str, int, str]]], service: str = "cases") -> list:
    """The records of successive anchors, each step being the heads that changed since the one before."""
    heads: dict[str, tuple[str, int, str]] = {}
    records, previous = [], ""
    for seq, changed in enumerate(steps, start=1):
        heads |= {h[0]: h for h in changed}
        body, values = seal(service, STORE, signer, list(heads.values()), changed, seq=seq, previous=previous,
                            created_at=T0 + timedelta(minutes=5 * seq))
        records += [parse_record(v) for v in values]
        previous = body.digest()
    return records


STEPS = [[head("a", 1), head("b", 2)], [head("a", 3)], [head("c", 1), head("b", 4)]]


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer.generate()[0]


def trusted(*signers: Signer) -> dict:
    return {s.key_id: s.public for s in signers}


def test_the_root_depends_on_every_head_and_not_on_their_order():
    heads = [head(s, v) for s, v in (("a", 1), ("b", 7), ("c", 2), ("d", 1), ("e", 3))]
    root = merkle_root(heads)
    assert merkle_root(list(reversed(heads))) == root
    for i in range(len(heads)):
        changed = list(heads)
        changed[i] = head(heads[i][0], heads[i][1] + 1)
        assert merkle_root(changed) != root, f"a changed head {i} must change the root"
        assert merkle_root(heads[:i] + heads[i + 1:]) != root, f"a missing head {i} must change the root"
    assert merkle_root(heads + [head("f", 1)]) != root


def test_an_honest_log_folds_to_the_latest_heads(signer):
    log = check_log("cases", STORE, history(signer, STEPS), trusted(signer))
    assert log.findings == []
    assert (log.anchors, log.latest.seq, log.latest.streams, log.latest.events) == (3, 3, 3, 3 + 4 + 1)
    assert {s: v for s, (v, _, _) in log.heads.items()} == {"a": 3, "b": 4, "c": 1}
    assert log.heads["a"][2] == 2  # the anchor that last sealed stream a


def test_other_services_anchors_are_ignored(signer):
    records = history(signer, STEPS) + history(signer, [[head("x", 1)]], service="staffing")
    assert check_log("staffing", STORE, records, trusted(signer)).heads.keys() == {"x"}
    assert check_log("cases", STORE, records, trusted(signer)).latest.seq == 3


def _replace(records, index, **changes):
    out = list(records)
    out[index] = records[index].model_copy(update=changes)
    return out


def _anchor_index(records, seq):
    return next(i for i, r in enumerate(records) if r.kind == "anchor" and r.body.seq == seq)


def _forged_body(records, seq, **changes):
    i = _anchor_index(records, seq)
    return _replace(records, i, body=records[i].body.model_copy(update=changes))


def _drop(records, predicate):
    return [r for r in records if not predicate(r)]


FORGERIES = {
    "a changed body keeps its old signature": (
        lambda rs, other: _forged_body(rs, 2, events=99), "#2", "the signature does not match"),
    "an anchor removed from the middle": (
        lambda rs, other: _drop(rs, lambda r: r.kind == "anchor" and r.body.seq == 2), "#2", "anchor #2 is missing"),
    "an anchor signed by an untrusted key": (
        lambda rs, other: rs[:_anchor_index(rs, 2)] + [other.sign(rs[_anchor_index(rs, 2)].body.model_copy(
            update={"key_id": other.key_id}))] + rs[_anchor_index(rs, 2) + 1:], "#2", "not a trusted audit key"),
    "a heads record removed": (
        lambda rs, other: _drop(rs, lambda r: r.kind == "heads" and r.seq == 3), "#3", "1 heads record(s) announced"),
    "a head changed in a heads record": (
        lambda rs, other: [r.model_copy(update={"heads": [head("a", 2)]}) if r.kind == "heads" and r.seq == 2 else r
                           for r in rs], "#2", "do not give the signed root"),
    "an extra head slipped into a heads record": (
        lambda rs, other: [r.model_copy(update={"heads": r.heads + [head("z", 1)]}) if r.kind == "heads" and
                           r.seq == 3 else r for r in rs], "#3", "do not give the signed root"),
}


@pytest.mark.parametrize("how", FORGERIES)
def test_a_forged_or_cut_log_is_found_at_the_anchor_it_breaks(signer, how):
    forge, where, problem = FORGERIES[how]
    log = check_log("cases", STORE, forge(history(signer, STEPS), Signer.generate()[0]), trusted(signer))
    [finding] = log.findings
    assert finding.kind == "anchor" and f"anchor {where} " in finding.detail and problem in finding.detail
    assert log.latest is None or log.latest.seq < int(where[1:])  # nothing from the broken anchor on is trusted


def test_anchors_of_another_store_of_the_service_vouch_for_nothing_here(signer):
    log = check_log("cases", "another-store", history(signer, STEPS), trusted(signer))
    assert log.latest is None and log.heads == {} and log.other_stores == {STORE}


def test_a_restarted_chain_is_found(signer):
    """Whoever empties audit_anchors restarts the numbering: the new #1 does not chain on to the old #2."""
    old = history(signer, STEPS[:2])
    restarted = history(signer, [[head("a", 3), head("b", 2), head("z", 1)]])
    log = check_log("cases", STORE, old + restarted, trusted(signer))
    assert [f.kind for f in log.findings] == ["anchor"]
    assert "does not name its predecessor" in log.findings[0].detail


def test_a_repeated_seq_counts_once(signer):
    """A writer that died after publishing but before recording its anchor publishes that seq again."""
    records = history(signer, STEPS)
    again = history(signer, STEPS)  # the same anchors, written a second time with their own timestamps
    log = check_log("cases", STORE, records + again, trusted(signer))
    assert log.findings == [] and log.latest.seq == 3


def test_heads_are_split_into_records_of_bounded_size(signer):
    many = [head(f"s{i:05}", 1) for i in range(4500)]
    body, values = seal("cases", STORE, signer, many, many, seq=1, previous="", created_at=T0)
    parts = [parse_record(v) for v in values[:-1]]
    assert body.parts == 3 and all(isinstance(p, HeadsRecord) for p in parts)
    assert max(len(v) for v in values) < 1_000_000  # Kafka's default message size
    assert check_log("cases", STORE, [*parts, parse_record(values[-1])], trusted(signer)).latest.events == 4500


def test_keys_load_from_settings_and_refuse_what_is_not_a_key(tmp_path, signer):
    generated, text = Signer.generate()
    assert load_signer(env="production", key=text, key_file=None).key_id == generated.key_id
    (tmp_path / "k").write_text(text + "\n")
    assert load_signer(env="production", key=None, key_file=tmp_path / "k").key_id == generated.key_id
    assert load_signer(env="dev", key=None, key_file=None).source.startswith("the dev-only")
    for kwargs, message in (({"key": None, "key_file": None}, "no audit signing key"),
                            ({"key": "c2hvcnQ=", "key_file": None}, "expected 32 bytes"),
                            ({"key": text, "key_file": tmp_path / "k"}, "keep one of them"),
                            ({"key": None, "key_file": tmp_path / "missing"}, "cannot read")):
        with pytest.raises(AnchorKeyError, match=message):
            load_signer(env="production", **kwargs)
    keys = parse_public_keys(f"{public_text(generated.public)}, {public_text(signer.public)}", "test")
    assert set(keys) == {generated.key_id, signer.key_id}


def _receipt(signer: Signer, stream: str, version: int, store: str = STORE):
    from kim_runtime.anchor import ReceiptBody

    _, _, hash_hex = head(stream, version)
    return parse_record(signer.receipt(ReceiptBody(
        service="cases", store=store, stream_id=stream, version=version, hash=hash_hex,
        created_at=T0 + timedelta(minutes=version), key_id=signer.key_id)).model_dump_json())


def test_receipts_keep_each_streams_newest_and_a_changed_or_foreign_one_is_a_finding(signer):
    records = history(signer, STEPS) + [_receipt(signer, "access-c1", 1), _receipt(signer, "access-c1", 2),
                                        _receipt(signer, "access-c2", 1, store="another-store")]
    log = check_log("cases", STORE, records, trusted(signer))
    assert log.findings == [] and log.latest.seq == 3
    assert {s: (b.version, b.hash) for s, b in log.receipts.items()} == {"access-c1": head("access-c1", 2)[1:]}

    changed = _receipt(signer, "access-c1", 3)
    changed = changed.model_copy(update={"body": changed.body.model_copy(update={"version": 4})})
    other = Signer.generate()[0]
    log = check_log("cases", STORE, records + [changed, _receipt(other, "access-c1", 5)], trusted(signer))
    assert [(f.kind, f.stream_id, f.version) for f in log.findings] == [("anchor", "access-c1", 4),
                                                                        ("anchor", "access-c1", 5)]
    assert "the signature does not match (the receipt was changed)" in log.findings[0].line()
    assert "which is not a trusted audit key" in log.findings[1].line()
    assert log.receipts["access-c1"].version == 2, "an invalid receipt vouches for nothing"


# -- receipts: a read is answered only once its receipt is written (issue 15) ----------------------------------------
def _receipts(publish, file=None, timeout_s: float = 10.0):
    from kim_runtime.anchor import Receipts

    receipts = Receipts(None, "cases", Signer.generate()[0], publish, file, clock=lambda: T0, timeout_s=timeout_s)
    receipts._store = STORE  # the store id is read from the database once; none here
    return receipts


async def test_a_receipt_no_sink_took_raises_and_one_the_file_took_is_returned(tmp_path):
    import asyncio

    from kim_runtime.anchor import ReceiptNotWritten

    async def not_ready(_values):
        return False

    async def hangs(_values):
        await asyncio.sleep(60)

    async def refuses(_values):
        raise ConnectionError("the anchor topic refused it")

    _, version, digest = head("access-c1", 1)
    with pytest.raises(ReceiptNotWritten, match="no anchor file and no anchor topic"):
        await _receipts(not_ready).issue("access-c1", version, digest)  # Kafka not there, no file
    with pytest.raises(ReceiptNotWritten, match="within 0.05 s"):
        await _receipts(hangs, timeout_s=0.05).issue("access-c1", version, digest)
    with pytest.raises(ConnectionError):
        await _receipts(refuses, tmp_path / "ok.jsonl").issue("access-c1", version, digest)  # every sink must take it
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    with pytest.raises(OSError):
        await _receipts(not_ready, blocked / "cases.jsonl").issue("access-c1", version, digest)

    record = await _receipts(not_ready, tmp_path / "anchors" / "cases.jsonl").issue("access-c1", version, digest)
    [line] = (tmp_path / "anchors" / "cases.jsonl").read_text().splitlines()
    assert parse_record(line) == record and record.body.stream_id == "access-c1"
