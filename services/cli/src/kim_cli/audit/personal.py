"""Personal data in a trail: encrypted fields shown as "erased" once the client's key is gone, else "withheld",
or in clear when the auditor asks for it (--show-personal; every such read is itself recorded).

Keys live in the cases service's table client_keys, wrapped by its key-encryption key (KEK); unwrapping and
decryption are the cases service's own. Only --show-personal needs the KEK (kim_cli.master_key says where it is
found); without it, whether the key row still exists is all that matters (erased or withheld).
"""

from __future__ import annotations

from typing import Any

import asyncpg

ERASED, WITHHELD, UNREADABLE = "erased", "withheld", "unreadable"
PERSONAL_FIELDS = ("name", "date_of_birth", "address", "contact")


def is_encrypted(value: Any) -> bool:
    return isinstance(value, dict) and {"key_id", "nonce", "ciphertext"} <= value.keys()


NOT_UNWRAPPED = b""  # the key exists but was not unwrapped: nothing is shown in clear, so no KEK is needed


async def client_key(cases: asyncpg.Pool, client_id: str | None, *, reveal: bool) -> bytes | None:
    """The client's data key (None once erased); unwrapped only when personal data is to be shown in clear."""
    from kim_cases.public import MasterKeyError, Undecryptable, client_data_key

    from kim_cli.audit.connect import UserError
    from kim_cli.master_key import keyring

    if client_id is None:
        return None
    async with cases.acquire() as conn:
        if not await conn.fetchval("SELECT to_regclass('client_keys') IS NOT NULL"):
            return None
    try:
        exists, key = await client_data_key(cases, client_id, keyring() if reveal else None, unwrap=reveal)
    except (MasterKeyError, Undecryptable) as exc:
        raise UserError(f"--show-personal needs the cases service's key-encryption key: {exc}") from None
    if not exists:
        return None
    return key if reveal else NOT_UNWRAPPED


class Opener:
    """Replaces each encrypted value in event data; remembers which fields it showed in clear."""

    def __init__(self, client_id: str | None, key: bytes | None, *, reveal: bool):
        self.client_id, self.key, self.reveal = client_id, key, reveal
        self.read: set[str] = set()

    @property
    def erased(self) -> bool:
        return self.key is None

    def open(self, value: Any, label: str) -> Any:
        if value is None:
            return None
        if self.key is None:
            return ERASED
        if not self.reveal:
            return WITHHELD
        from kim_cases.public import Undecryptable, decrypt
        from kim_schemas.types import Encrypted

        try:
            opened = decrypt(self.key, self.client_id, Encrypted.model_validate(value))
        except (Undecryptable, ValueError):  # tampered, encrypted for another client, or not an Encrypted at all
            return UNREADABLE
        self.read.add(label)
        return opened

    def data(self, data: dict) -> dict:
        return {k: self.open(v, k) if is_encrypted(v) else v for k, v in data.items()}

    # kim_cases.public.StateReader: what the cases service's case_state needs of a reader
    def personal(self, value) -> dict:
        opened = self.open(_plain(value), "personal")
        if isinstance(opened, dict):
            return {f: opened.get(f) for f in PERSONAL_FIELDS}
        return dict.fromkeys(PERSONAL_FIELDS, opened)

    def quasi(self, value: str | None) -> str | None:
        """A clear value that points at the person (a consent's language): like personal data in the trail."""
        if value is None:
            return None
        return ERASED if self.key is None else (value if self.reveal else WITHHELD)

    def notes(self, value) -> Any:
        opened = self.open(_plain(value), "notes")
        return opened.get("notes") if isinstance(opened, dict) else opened


def _plain(value) -> dict | None:
    return value.model_dump(mode="json") if hasattr(value, "model_dump") else value
