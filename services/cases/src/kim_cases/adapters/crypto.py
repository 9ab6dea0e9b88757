"""AES-256-GCM with one key per client (crypto-shredding): destroy the key and the ciphertext is noise forever.

The client id is bound in as associated data, so a ciphertext copied onto another client never decrypts.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from kim_schemas.types import Encrypted

ERASED = "erased"  # what every view shows in place of a field whose key is destroyed


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
