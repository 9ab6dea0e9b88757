"""AES-256-GCM for crypto-shredding, shared by every service that seals data under a key it can destroy: the one
module that calls AESGCM (tests/unit/runtime/test_crypto_one_module.py holds every other module to that).

`seal_json` / `open_json` and `wrap` / `unwrap` are the primitives, with the associated data as bytes; the cases
service's client values and wrapped data keys (kim_cases.adapters.crypto) and the sealed fields of events
(kim_runtime.sealing) are built on them, each with its own AAD. One format everywhere: a 12-byte random nonce, the
JSON object in its compact form (no spaces, UTF-8 unescaped), nonce and ciphertext-with-tag in base64; a wrapped
key is nonce || ciphertext || tag (60 bytes).

`seal` / `open_sealed` encrypt a JSON object under a data key, binding `aad` (associated data: what the ciphertext
belongs to, e.g. a referral id and version), so a ciphertext copied onto another record never opens. `wrap_key` /
`unwrap_key` store a data key encrypted under a key-encryption key (KEK) that lives outside the database, bound to a
label, so a wrapped key moved onto another row never unwraps. Destroy the data key (delete its row) and every
ciphertext under it is noise forever.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE_BYTES, KEY_BYTES = 12, 32


class Undecryptable(Exception):
    """The ciphertext does not open with this key and associated data (wrong key, tampered, or moved)."""


@dataclass(frozen=True)
class Sealed:
    """nonce and ciphertext (with the GCM tag appended), both base64, and the id of the key that opens them."""

    key_id: str
    nonce: str
    ciphertext: str


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def _nonce() -> bytes:
    return os.urandom(NONCE_BYTES)


def canonical_json(value: dict[str, Any]) -> bytes:
    """What is sealed of a JSON object: compact, UTF-8 unescaped, anything else as str."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def seal_json(key: bytes, aad: bytes, value: dict[str, Any]) -> tuple[str, str]:
    """(nonce, ciphertext with the tag), both base64, of the JSON object `value` under `key`, bound to `aad`."""
    nonce = _nonce()
    ciphertext = AESGCM(key).encrypt(nonce, canonical_json(value), aad)
    return base64.b64encode(nonce).decode(), base64.b64encode(ciphertext).decode()


def open_json(key: bytes, aad: bytes, nonce: str, ciphertext: str) -> dict[str, Any]:
    """The JSON object `seal_json` sealed; Undecryptable for any other key or aad, a changed byte or broken base64."""
    try:
        plaintext = AESGCM(key).decrypt(base64.b64decode(nonce), base64.b64decode(ciphertext), aad)
    except (InvalidTag, binascii.Error, ValueError):
        raise Undecryptable("the ciphertext does not open with this key and associated data") from None
    return json.loads(plaintext)


def wrap(kek: bytes, aad: bytes, data_key: bytes) -> bytes:
    """The data key encrypted under the KEK, bound to `aad`: nonce || ciphertext || tag (60 bytes for a 32-byte key)."""
    nonce = _nonce()
    return nonce + AESGCM(kek).encrypt(nonce, data_key, aad)


def unwrap(kek: bytes, aad: bytes, wrapped: bytes) -> bytes:
    """The data key `wrap` wrapped; Undecryptable under any other KEK or aad."""
    try:
        return AESGCM(kek).decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], aad)
    except (InvalidTag, ValueError):
        raise Undecryptable("the wrapped key does not open with this key-encryption key") from None


def seal(key: bytes, key_id: str, aad: str, value: dict[str, Any]) -> Sealed:
    """The JSON object `value` encrypted under `key`, bound to `aad`."""
    return Sealed(key_id, *seal_json(key, aad.encode(), value))


def open_sealed(key: bytes, aad: str, nonce: str, ciphertext: str) -> dict[str, Any]:
    """The JSON object sealed under `key` and `aad`; Undecryptable for any other key, aad or a changed byte."""
    try:
        return open_json(key, aad.encode(), nonce, ciphertext)
    except Undecryptable:
        raise Undecryptable(f"the ciphertext does not open with this key for {aad!r}") from None


def wrap_key(kek: bytes, label: str, data_key: bytes) -> bytes:
    """The data key encrypted under the KEK, bound to `label`: nonce || ciphertext || tag (60 bytes)."""
    return wrap(kek, label.encode(), data_key)


def unwrap_key(kek: bytes, label: str, wrapped: bytes) -> bytes:
    try:
        return unwrap(kek, label.encode(), wrapped)
    except Undecryptable:
        raise Undecryptable(f"the wrapped key {label!r} does not open with this key-encryption key") from None


def kek_verifier(kek: bytes, label: bytes) -> bytes:
    """A fingerprint of a KEK that reveals nothing about it (HMAC-SHA256 of a fixed `label`): lets a database tell
    two different keys under one id apart without holding either."""
    mac = hmac.HMAC(kek, hashes.SHA256())
    mac.update(label)
    return mac.finalize()


def derive_key(secret: bytes, info: bytes) -> bytes:
    """A 32-byte key derived from `secret` with HKDF-SHA256 (no salt) for one purpose, named by `info`: the same
    secret with another `info` gives an unrelated key. The one key derivation of KIM Hub (KEKs from a secret, a
    client's sealing key from its data key, a service's Idempotency-Key fingerprint key)."""
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info).derive(secret)


@dataclass(frozen=True)
class Kek:
    """A key-encryption key and its id (stored next to each wrapped key, so a later KEK can be told apart)."""

    kek_id: str
    key: bytes = field(repr=False)

    @classmethod
    def parse(cls, entry: str, where: str) -> Kek:
        """`ID:KEY` (KEY: 32 bytes in base64), or ValueError naming `where`."""
        kek_id, colon, encoded = entry.strip().partition(":")
        try:
            key = base64.b64decode(encoded, validate=True) if colon else b""
        except binascii.Error:
            key = b""
        if not kek_id or len(key) != KEY_BYTES:
            raise ValueError(f"{where}: not ID:KEY with KEY 32 random bytes in base64 "
                             "(python -c 'import os,base64; print(base64.b64encode(os.urandom(32)).decode())')")
        return cls(kek_id, key)

    @classmethod
    def derived(cls, kek_id: str, secret: str, purpose: str) -> Kek:
        """A KEK derived from another secret with HKDF-SHA256 (its own `purpose`, so it equals no other key)."""
        return cls(kek_id, derive_key(secret.encode(), purpose.encode()))
