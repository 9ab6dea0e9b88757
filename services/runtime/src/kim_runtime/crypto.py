"""AES-256-GCM for crypto-shredding, shared by every service that seals data under a key it can destroy.

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
from cryptography.hazmat.primitives import hashes
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


def seal(key: bytes, key_id: str, aad: str, value: dict[str, Any]) -> Sealed:
    """The JSON object `value` encrypted under `key`, bound to `aad`."""
    nonce = os.urandom(NONCE_BYTES)
    plaintext = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str).encode()
    ciphertext = AESGCM(key).encrypt(nonce, plaintext, aad.encode())
    return Sealed(key_id, base64.b64encode(nonce).decode(), base64.b64encode(ciphertext).decode())


def open_sealed(key: bytes, aad: str, nonce: str, ciphertext: str) -> dict[str, Any]:
    """The JSON object sealed under `key` and `aad`; Undecryptable for any other key, aad or a changed byte."""
    try:
        plaintext = AESGCM(key).decrypt(base64.b64decode(nonce), base64.b64decode(ciphertext), aad.encode())
    except (InvalidTag, binascii.Error, ValueError):
        raise Undecryptable(f"the ciphertext does not open with this key for {aad!r}") from None
    return json.loads(plaintext)


def wrap_key(kek: bytes, label: str, data_key: bytes) -> bytes:
    """The data key encrypted under the KEK, bound to `label`: nonce || ciphertext || tag (60 bytes)."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(kek).encrypt(nonce, data_key, label.encode())


def unwrap_key(kek: bytes, label: str, wrapped: bytes) -> bytes:
    try:
        return AESGCM(kek).decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], label.encode())
    except InvalidTag:
        raise Undecryptable(f"the wrapped key {label!r} does not open with this key-encryption key") from None


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
        key = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=purpose.encode()).derive(secret.encode())
        return cls(kek_id, key)
