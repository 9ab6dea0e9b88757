"""AES-256-GCM with one key per client (crypto-shredding): destroy the key and the ciphertext is noise forever.

The client id is bound in as associated data, so a ciphertext copied onto another client never decrypts.
Each client's data key is itself stored only wrapped (AES-256-GCM again) by a key-encryption key (KEK) that lives
outside the database; the wrap binds the client id and the data key's id, so a wrapped key moved onto another row
never unwraps.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from kim_schemas.types import Encrypted

ERASED = "erased"  # what every view shows in place of a field whose key is destroyed
NONCE_BYTES, KEY_BYTES, TAG_BYTES = 12, 32, 16
WRAPPED_KEY_BYTES = NONCE_BYTES + KEY_BYTES + TAG_BYTES  # what a wrapped data key is, and all it can be
_VERIFIER_LABEL = b"kim-hub key-encryption-key verifier v1"


class Undecryptable(Exception):
    """The ciphertext does not match the key (tampered, or bound to another client)."""


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def encrypt(key: bytes, key_id: str, client_id: str, value: dict[str, Any]) -> Encrypted:
    nonce = os.urandom(12)
    plaintext = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str).encode()
    ciphertext = AESGCM(key).encrypt(nonce, plaintext, client_id.encode())
    return Encrypted(key_id=key_id, nonce=base64.b64encode(nonce).decode(),
                     ciphertext=base64.b64encode(ciphertext).decode())


def decrypt(key: bytes, client_id: str, value: Encrypted) -> dict[str, Any]:
    try:
        plaintext = AESGCM(key).decrypt(base64.b64decode(value.nonce), base64.b64decode(value.ciphertext),
                                        client_id.encode())
    except InvalidTag:
        raise Undecryptable(f"ciphertext under key {value.key_id} does not match client {client_id}") from None
    return json.loads(plaintext)


def _wrap_aad(client_id: str, key_id: str) -> bytes:
    return f"kim-client-key\x00{client_id}\x00{key_id}".encode()


def wrap_key(kek: bytes, client_id: str, key_id: str, data_key: bytes) -> bytes:
    """The data key encrypted under the KEK: nonce || ciphertext || tag (60 bytes)."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(kek).encrypt(nonce, data_key, _wrap_aad(client_id, key_id))


def unwrap_key(kek: bytes, client_id: str, key_id: str, wrapped: bytes) -> bytes:
    try:
        return AESGCM(kek).decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], _wrap_aad(client_id, key_id))
    except InvalidTag:
        raise Undecryptable(f"the wrapped data key {key_id} of client {client_id} does not open with this "
                            "key-encryption key (another key under the same id, or the row was tampered with)") from None


def kek_verifier(kek: bytes) -> bytes:
    """A fingerprint of a KEK that reveals nothing about it (HMAC of a fixed label): lets the database tell two
    different keys under one id apart without holding either."""
    mac = hmac.HMAC(kek, hashes.SHA256())
    mac.update(_VERIFIER_LABEL)
    return mac.finalize()
