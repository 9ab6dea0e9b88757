"""kim_runtime.crypto: sealing under a per-record key, and keys wrapped under a KEK."""

from __future__ import annotations

import base64

import pytest
from kim_runtime import crypto


def test_a_sealed_value_opens_with_its_key_and_aad_and_holds_nothing_in_clear():
    key = crypto.new_key()
    value = {"client_pseudonym": "ps-0123abcd", "residence_status": "duldung_60a"}
    sealed = crypto.seal(key, "k-1", "ref-1:1", value)
    raw = base64.b64decode(sealed.ciphertext)
    assert b"ps-0123abcd" not in raw and b"duldung" not in raw
    assert crypto.open_sealed(key, "ref-1:1", sealed.nonce, sealed.ciphertext) == value
    assert sealed.key_id == "k-1"
    assert crypto.seal(key, "k-1", "ref-1:1", value).nonce != sealed.nonce  # a fresh nonce every time


def test_a_sealed_value_does_not_open_with_another_key_another_aad_or_a_changed_byte():
    key = crypto.new_key()
    sealed = crypto.seal(key, "k-1", "ref-1:1", {"a": 1})
    with pytest.raises(crypto.Undecryptable):
        crypto.open_sealed(crypto.new_key(), "ref-1:1", sealed.nonce, sealed.ciphertext)
    with pytest.raises(crypto.Undecryptable):
        crypto.open_sealed(key, "ref-2:1", sealed.nonce, sealed.ciphertext)  # moved onto another record
    with pytest.raises(crypto.Undecryptable):
        crypto.open_sealed(key, "ref-1:2", sealed.nonce, sealed.ciphertext)  # moved onto another version
    raw = bytearray(base64.b64decode(sealed.ciphertext))
    raw[0] ^= 1
    with pytest.raises(crypto.Undecryptable):
        crypto.open_sealed(key, "ref-1:1", sealed.nonce, base64.b64encode(bytes(raw)).decode())


def test_a_wrapped_key_unwraps_only_with_its_kek_and_label():
    kek, data_key = crypto.new_key(), crypto.new_key()
    wrapped = crypto.wrap_key(kek, "ref-1", data_key)
    assert len(wrapped) == 60 and data_key not in wrapped
    assert crypto.unwrap_key(kek, "ref-1", wrapped) == data_key
    with pytest.raises(crypto.Undecryptable):
        crypto.unwrap_key(kek, "ref-2", wrapped)
    with pytest.raises(crypto.Undecryptable):
        crypto.unwrap_key(crypto.new_key(), "ref-1", wrapped)


def test_a_kek_is_id_and_32_bytes_or_refused_and_a_derived_one_is_stable_per_purpose():
    key = bytes(range(32))
    kek = crypto.Kek.parse(f"kek-1:{base64.b64encode(key).decode()}", "KIM_X")
    assert kek == crypto.Kek("kek-1", key) and "key=" not in repr(kek)
    for bad in ("kek-1", "kek-1:abc", f":{base64.b64encode(key).decode()}", "kek-1:!!!!"):
        with pytest.raises(ValueError, match="KIM_X"):
            crypto.Kek.parse(bad, "KIM_X")
    one = crypto.Kek.derived("d", "a secret", "purpose one")
    assert one == crypto.Kek.derived("d", "a secret", "purpose one")
    assert one.key != crypto.Kek.derived("d", "a secret", "purpose two").key != one.key
    assert len(one.key) == 32
