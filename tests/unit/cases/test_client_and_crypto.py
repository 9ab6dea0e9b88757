"""The Client aggregate and the per-client encryption it relies on."""

from __future__ import annotations

import base64

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kim_runtime.errors import RuleViolation

from kim_cases.adapters import crypto
from kim_cases.domain import Client


def registered(client_id: str = "c-1") -> tuple[Client, bytes]:
    key = crypto.new_key()
    client = Client(client_id)
    personal = crypto.encrypt(key, "key-1", client_id, {"name": "Amina Haddad"})
    profile = crypto.encrypt(key, "key-1", client_id, {"birth_year": 1990, "languages": ["ar"], "arrival_year": 2016})
    for e in client.register(personal, profile):
        client.apply(e)
    return client, key


def test_nothing_of_birth_and_arrival_year_travels_in_clear_not_even_their_bands():
    client, key = registered()
    reg = client.registered
    assert set(reg.model_dump()) == {"client_id", "personal", "profile"}  # ClientRegistered v3: no bands
    assert "1990-1999" not in reg.model_dump_json() and "2015-2019" not in reg.model_dump_json()
    assert "2016" not in reg.model_dump_json() and '"ar"' not in reg.model_dump_json()
    assert crypto.decrypt(key, "c-1", reg.profile) == {"birth_year": 1990, "languages": ["ar"], "arrival_year": 2016}


def test_a_client_is_registered_once_and_erased_once():
    client, _ = registered()
    with pytest.raises(RuleViolation, match="registered already"):
        client.register(client.registered.personal, client.registered.profile)
    at = datetime(2025, 5, 1, tzinfo=UTC)
    [erased] = client.erase(at, ground="zweck_entfallen")
    assert erased.key_id == "key-1" and "request_reference" not in erased.model_dump()
    client.apply(erased)
    with pytest.raises(RuleViolation, match="was erased at 2025-05-01"):
        client.erase(at, ground="zweck_entfallen")
    with pytest.raises(RuleViolation, match="you cannot open a case"):
        client.ensure_active("open a case")


@given(st.dictionaries(st.sampled_from(["name", "address", "contact", "notes"]), st.text(max_size=200)))
def test_encryption_round_trips_and_the_ciphertext_holds_no_plaintext(value):
    key = crypto.new_key()
    sealed = crypto.encrypt(key, "k", "client-1", value)
    assert crypto.decrypt(key, "client-1", sealed) == value
    # the stored bytes, not the JSON around them (a text like "key_" is part of the field name "key_id")
    stored = base64.b64decode(sealed.ciphertext) + base64.b64decode(sealed.nonce)
    for text in value.values():
        if len(text.encode()) >= 4:
            assert text.encode() not in stored


def test_a_ciphertext_does_not_open_for_another_client_or_another_key():
    key = crypto.new_key()
    sealed = crypto.encrypt(key, "k", "client-1", {"name": "Amina"})
    with pytest.raises(crypto.Undecryptable):
        crypto.decrypt(key, "client-2", sealed)
    with pytest.raises(crypto.Undecryptable):
        crypto.decrypt(crypto.new_key(), "client-1", sealed)
