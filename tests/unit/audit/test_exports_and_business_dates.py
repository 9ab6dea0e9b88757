"""Signed exports (FILE.sig over the SHA-256, checked by kim audit verify-export) and --as-of --by business (folded
by the cases service: kim_cases.application.audit_trail)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from kim_cases.application.audit_trail import Entry, NotYet, Opener, happened_by, state_as_of
from kim_cli.audit.connect import UserError
from kim_cli.audit.anchors import signer
from kim_cli.audit.exports import export_hash, sig_path
from kim_cli.audit.exports import verify_export
from kim_cli.audit.exports import write_export as write_signed
from kim_runtime.anchor import Signer, public_text


@pytest.fixture(autouse=True)
def _dev_key(monkeypatch):
    monkeypatch.setenv("KIM_ENV", "dev")
    for name in ("KIM_AUDIT_SIGNING_KEY", "KIM_AUDIT_SIGNING_KEY_FILE", "KIM_AUDIT_PUBLIC_KEYS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("kim_cli.audit.anchors.local_stack_secret", lambda _name: None)


def write_export(path, text: str) -> str:
    """As the CLI writes an export, with the signature the cases service answers (here: the dev key's)."""
    key, digest = signer(), export_hash(text)
    return write_signed(path, text, {"sha256": digest, "key_id": key.key_id,
                                     "signature": key.sign_bytes(bytes.fromhex(digest))})


def test_a_signature_of_another_files_hash_is_refused(tmp_path):
    key, digest = signer(), export_hash("other\n")
    with pytest.raises(UserError, match="signed SHA-256 .* not this export's"):
        write_signed(tmp_path / "t.txt", "trail\n", {"sha256": digest, "key_id": key.key_id,
                                                     "signature": key.sign_bytes(bytes.fromhex(digest))})
    assert not (tmp_path / "t.txt").exists()


def test_an_export_verifies_and_every_changed_byte_fails(tmp_path):
    file = tmp_path / "trail.json"
    digest = write_export(file, '{"events": ["ä"]}\n')
    assert json.loads(sig_path(file).read_text())["sha256"] == digest
    assert verify_export(file).ok
    original = file.read_bytes()
    for i in range(len(original)):
        changed = bytearray(original)
        changed[i] ^= 0x20
        file.write_bytes(bytes(changed))
        result = verify_export(file)
        assert not result.ok and "was changed after it was exported" in result.message
    file.write_bytes(original)
    assert verify_export(file).ok


def test_the_same_text_gives_the_same_file_and_signature(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    write_export(a, "x,y\n1,2\n")
    write_export(b, "x,y\n1,2\n")
    sig = lambda p: {k: v for k, v in json.loads(sig_path(p).read_text()).items() if k != "file"}  # noqa: E731
    assert a.read_bytes() == b.read_bytes() and sig(a) == sig(b)


def test_a_signature_by_an_untrusted_key_or_a_forged_signature_fails(tmp_path):
    file = tmp_path / "t.txt"
    write_export(file, "trail\n")
    other = public_text(Signer.generate()[0].public)
    result = verify_export(file, public_keys=[other])
    assert not result.ok and "not a trusted audit key" in result.message
    document = json.loads(sig_path(file).read_text())
    document["signature"] = Signer.generate()[0].sign_bytes(bytes.fromhex(document["sha256"]))
    sig_path(file).write_text(json.dumps(document))
    assert "does not match" in verify_export(file).message
    sig_path(file).unlink()
    with pytest.raises(UserError, match="cannot read the signature"):
        verify_export(file)


def _e(version: int, type_: str, data: dict, recorded: str, stream: str = "case-1") -> Entry:
    return Entry(f"e{version}", stream, version, type_, 1, datetime.fromisoformat(recorded), version,
                 {"actor": "staff-1"}, data)


CASE = [
    _e(1, "kim.cases.CaseOpened", {"case_id": "case-1", "client_id": "cl-1", "opened_on": "2025-01-10"},
       "2025-06-01T10:00:00+00:00"),
    _e(2, "kim.cases.ReviewHeld", {"case_id": "case-1", "held_on": "2025-03-01"}, "2025-06-01T10:01:00+00:00"),
    _e(3, "kim.cases.LegalHoldPlaced", {"case_id": "case-1"}, "2025-06-02T10:00:00+00:00"),
]


def test_by_business_counts_the_casework_date_and_by_recorded_the_recording_time():
    feb = datetime(2025, 2, 1, 23, 59, tzinfo=UTC)
    assert [happened_by(e, feb, "business") for e in CASE] == [True, False, False]
    assert [happened_by(e, feb, "recorded") for e in CASE] == [False, False, False]
    june = datetime(2025, 6, 1, 23, 59, tzinfo=UTC)
    assert [happened_by(e, june, "business") for e in CASE] == [True, True, False]  # no business date: recorded


def test_state_as_of_a_business_date_before_the_recording():
    opener = Opener("cl-1", b"", reveal=False)
    with pytest.raises(NotYet, match="did not exist yet .* --by business"):
        state_as_of("case-1", "cl-1", CASE, datetime(2025, 2, 1, tzinfo=UTC), opener)
    state = state_as_of("case-1", "cl-1", CASE, datetime(2025, 2, 1, tzinfo=UTC), opener, "business")
    assert (state["by"], state["version"]) == ("business", 1)
