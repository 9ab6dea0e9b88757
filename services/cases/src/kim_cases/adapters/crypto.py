"""AES-256-GCM with one key per client (crypto-shredding): destroy the key and the ciphertext is noise forever.

The client id is bound in as associated data, so a ciphertext copied onto another client never decrypts.
Each client's data key is itself stored only wrapped (AES-256-GCM again) by a key-encryption key (KEK) that lives
outside the database; the wrap binds the client id and the data key's id, so a wrapped key moved onto another row
never unwraps.

The AES-GCM itself is kim_runtime.crypto's (the one module that calls it); this module names what the cases service
binds: the client id as the AAD of a value, `kim-client-key\0<client>\0<key id>` as that of a wrapped data key.
"""

from __future__ import annotations

from typing import Any

from kim_runtime import crypto
from kim_schemas.types import Encrypted

ERASED = "erased"  # what every view shows in place of a field whose key is destroyed
NONCE_BYTES, KEY_BYTES, TAG_BYTES = crypto.NONCE_BYTES, crypto.KEY_BYTES, 16
WRAPPED_KEY_BYTES = NONCE_BYTES + KEY_BYTES + TAG_BYTES  # what a wrapped data key is, and all it can be
_VERIFIER_LABEL = b"kim-hub key-encryption-key verifier v1"


class Undecryptable(crypto.Undecryptable):
    """The ciphertext does not match the key (tampered, or bound to another client)."""


new_key = crypto.new_key


def encrypt(key: bytes, key_id: str, client_id: str, value: dict[str, Any]) -> Encrypted:
    nonce, ciphertext = crypto.seal_json(key, client_id.encode(), value)
    return Encrypted(key_id=key_id, nonce=nonce, ciphertext=ciphertext)


def decrypt(key: bytes, client_id: str, value: Encrypted) -> dict[str, Any]:
    try:
        return crypto.open_json(key, client_id.encode(), value.nonce, value.ciphertext)
    except crypto.Undecryptable:
        raise Undecryptable(f"ciphertext under key {value.key_id} does not match client {client_id}") from None


def _wrap_aad(client_id: str, key_id: str) -> bytes:
    return f"kim-client-key\x00{client_id}\x00{key_id}".encode()


def wrap_key(kek: bytes, client_id: str, key_id: str, data_key: bytes) -> bytes:
    """The data key encrypted under the KEK: nonce || ciphertext || tag (60 bytes)."""
    return crypto.wrap(kek, _wrap_aad(client_id, key_id), data_key)


def unwrap_key(kek: bytes, client_id: str, key_id: str, wrapped: bytes) -> bytes:
    try:
        return crypto.unwrap(kek, _wrap_aad(client_id, key_id), wrapped)
    except crypto.Undecryptable:
        raise Undecryptable(f"the wrapped data key {key_id} of client {client_id} does not open with this "
                            "key-encryption key (another key under the same id, or the row was tampered with)") from None


def kek_verifier(kek: bytes) -> bytes:
    """A fingerprint of a KEK that reveals nothing about it (HMAC of a fixed label): lets the database tell two
    different keys under one id apart without holding either."""
    return crypto.kek_verifier(kek, _VERIFIER_LABEL)
