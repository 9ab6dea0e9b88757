"""Key-encryption keys: how they are written and read, what a missing or wrong one says, and what wrapping binds."""

from __future__ import annotations

import base64
import json
import stat
from datetime import UTC, datetime

import pytest

from kim_cases.adapters import crypto
from kim_cases.adapters.key_rotation import KeyStatus, RotationResult
from kim_cases.adapters.keyring import (DEV_KEK, Keyring, MasterKey, MasterKeyError, MissingKek, generate, load,
                                      parse)
from kim_cases.key_admin import status_lines, summary_line
from kim_cases.settings import CasesSettings
from kim_cli import processes as procs

A, B = generate("kek-a"), generate("kek-b")


def b64(n: int) -> str:
    return base64.b64encode(b"k" * n).decode()


@pytest.mark.parametrize("text, ids", [
    (A.entry(), ["kek-a"]),
    (f"{B.entry()},{A.entry()}", ["kek-b", "kek-a"]),
    (f"# rotated 2025-07\n{B.entry()}\n\n  {A.entry()}  \n", ["kek-b", "kek-a"]),
    (f" {B.entry()} , {A.entry()} ,", ["kek-b", "kek-a"]),
])
def test_keys_are_read_current_first(text, ids):
    keys = parse(text, "KIM_MASTER_KEY")
    assert [k.kek_id for k in keys] == ids and {k.key for k in keys} <= {A.key, B.key}


@pytest.mark.parametrize("text, says", [
    ("", "holds no key"),
    ("# only a comment", "holds no key"),
    (b64(32), "entry 1 is not ID:KEY"),
    (f"{A.entry()},bad id:{b64(32)}", "entry 2 is not ID:KEY"),
    (f":{b64(32)}", "entry 1 is not ID:KEY"),
    (f"kek-x:{b64(16)}", "the key of 'kek-x' is not 32 bytes"),
    (f"kek-x:{b64(33)}", "the key of 'kek-x' is not 32 bytes"),
    ("kek-x:not base64!", "the key of 'kek-x' is not 32 bytes"),
    (f"kek-x:{'00' * 32}", "the key of 'kek-x' is not 32 bytes"),  # hex is not base64 of 32 bytes
    (f"{A.entry()},{A.entry()}", "'kek-a' is listed twice"),
])
def test_a_wrong_key_text_says_what_is_wrong_and_never_echoes_a_key(text, says):
    with pytest.raises(MasterKeyError, match=says) as raised:
        parse(text, "KIM_MASTER_KEY")
    assert str(raised.value).startswith("KIM_MASTER_KEY")
    assert base64.b64encode(A.key).decode() not in str(raised.value) and b64(32) not in str(raised.value)


def test_which_setting_wins_and_when_there_is_none(tmp_path):
    key_file = tmp_path / "kim.key"
    key_file.write_text(f"# current first\n{B.entry()}\n{A.entry()}\n")
    assert load(env="production", master_key=A.entry(), master_key_file=None).ids == ["kek-a"]
    assert load(env="production", master_key=None, master_key_file=key_file).ids == ["kek-b", "kek-a"]
    assert load(env="dev", master_key=A.entry(), master_key_file=None).ids == ["kek-a"]  # explicit beats dev
    assert load(env="dev", master_key=None, master_key_file=None).keys == (DEV_KEK,)
    with pytest.raises(MasterKeyError, match="no key-encryption key.*Only KIM_ENV=dev runs without one"):
        load(env="production", master_key=None, master_key_file=None)
    with pytest.raises(MasterKeyError, match="both set"):
        load(env="production", master_key=A.entry(), master_key_file=key_file)
    with pytest.raises(MasterKeyError, match="cannot read .*missing.key"):
        load(env="production", master_key=None, master_key_file=tmp_path / "missing.key")


def test_settings_read_the_kek_from_the_environment_and_treat_empty_as_unset(monkeypatch, tmp_path):
    monkeypatch.delenv("KIM_ENV", raising=False)
    monkeypatch.setenv("KIM_MASTER_KEY", "")
    monkeypatch.setenv("KIM_MASTER_KEY_FILE", "")
    settings = CasesSettings()
    assert settings.env == "production" and settings.master_key is None and settings.master_key_file is None
    monkeypatch.setenv("KIM_MASTER_KEY", A.entry())
    assert CasesSettings().master_key.get_secret_value() == A.entry()
    assert A.entry() not in repr(CasesSettings())
    monkeypatch.setenv("KIM_ENV", "staging")
    with pytest.raises(ValueError, match="production.*dev"):
        CasesSettings()


def test_a_wrapped_key_opens_only_for_its_client_its_key_id_and_its_kek():
    ring = Keyring((B, A), "test")
    data_key = crypto.new_key()
    kek_id, wrapped = ring.wrap("client-1", "key-1", data_key)
    assert kek_id == "kek-b" and len(wrapped) == crypto.WRAPPED_KEY_BYTES and data_key not in wrapped
    assert ring.unwrap("client-1", "key-1", "kek-b", wrapped) == data_key
    assert wrapped != ring.wrap("client-1", "key-1", data_key)[1]  # fresh nonce every time
    for client_id, key_id, kek in [("client-2", "key-1", B), ("client-1", "key-2", B), ("client-1", "key-1", A)]:
        with pytest.raises(crypto.Undecryptable):
            crypto.unwrap_key(kek.key, client_id, key_id, wrapped)
    tampered = wrapped[:20] + bytes([wrapped[20] ^ 1]) + wrapped[21:]
    with pytest.raises(crypto.Undecryptable):
        ring.unwrap("client-1", "key-1", "kek-b", tampered)
    with pytest.raises(MissingKek, match="'kek-c', which test does not hold.*list 'kek-c' after the current KEK"):
        ring.unwrap("client-1", "key-1", "kek-c", wrapped)


def test_the_verifier_tells_keys_apart_without_revealing_them():
    assert MasterKey("any-id", A.key).verifier == A.verifier  # a fingerprint of the key alone
    assert A.verifier != B.verifier and A.key not in A.verifier and len(A.verifier) == 32


def test_status_says_what_is_left_to_rotate_and_which_kek_can_go():
    since = datetime(2025, 7, 1, 10, 0, tzinfo=UTC)
    ring = Keyring((B, A), "test")
    lines = status_lines(KeyStatus({"kek-a": 3, "kek-b": 247}, {"kek-a": (since, since), "kek-b": (since, since)}, 0),
                         ring)
    assert [line.split()[:3] for line in lines[1:3]] == [["kek-b", "247", "current"], ["kek-a", "3", "previous"]]
    assert "3 data keys are not under the current KEK 'kek-b': rotate" in lines
    done = status_lines(KeyStatus({"kek-b": 250}, {"kek-a": (since, since), "kek-b": (since, since)}, 0), ring)
    assert done[-1].startswith("no data key is wrapped under kek-a any more: drop it")
    assert not any("rotate" in line for line in done)
    assert summary_line(RotationResult("kek-b")) == "nothing to re-wrap: every data key is under KEK 'kek-b'"
    moved = RotationResult("kek-b", rewrapped=250, from_keks={"kek-a"}, seconds=0.5)
    assert summary_line(moved).startswith("re-wrapped 250 data keys from kek-a to 'kek-b' in 0.50 s (500 keys/s)")


def test_kim_run_keeps_a_kek_with_its_other_secrets_and_adds_it_to_an_older_file(tmp_path, monkeypatch):
    fresh = procs.secrets(tmp_path / "new")
    [kek] = parse(fresh["master_key"], "secrets.json")
    assert kek.kek_id.startswith("local-") and procs.secrets(tmp_path / "new") == fresh  # generated once
    assert stat.S_IMODE((tmp_path / "new" / "secrets.json").stat().st_mode) == 0o600

    older = tmp_path / "old"
    older.mkdir()
    (older / "secrets.json").write_text(json.dumps({"auth_secret": "a" * 64, "pseudonym_secret": "p" * 64}))
    upgraded = procs.secrets(older)
    assert upgraded["auth_secret"] == "a" * 64 and upgraded["pseudonym_secret"] == "p" * 64
    assert json.loads((older / "secrets.json").read_text()) == upgraded and parse(upgraded["master_key"], "x")
    assert stat.S_IMODE((older / "secrets.json").stat().st_mode) == 0o600

    for name in ("KIM_MASTER_KEY", "KIM_MASTER_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    assert procs.kek_env(fresh) == {"KIM_MASTER_KEY": fresh["master_key"]}
    monkeypatch.setenv("KIM_MASTER_KEY_FILE", "/run/secrets/kim_master_key")  # the caller's own KEK wins
    assert procs.kek_env(fresh) == {}
