"""Personal data in what the CLI reads from the stores itself: never opened here. The CLI holds no key-encryption key
(KEK) and decrypts nothing (issue 15): an encrypted value reads "erased" once the client's key is gone, else
"withheld"; in clear it is shown only by the cases service, which opens it for an auditor's token and records the
read before it answers (GET /audit/cases/{case_id}?personal=true, kim_cli.audit.audit_log.case_view).

Whether a client's key still exists is read from the cases store's client_keys table (a row's presence, not the
wrapped key).
"""

from __future__ import annotations

from typing import Any

import asyncpg

ERASED, WITHHELD = "erased", "withheld"


def is_encrypted(value: Any) -> bool:
    return isinstance(value, dict) and {"key_id", "nonce", "ciphertext"} <= value.keys()


async def client_erased(cases: asyncpg.Pool, client_id: str | None) -> bool:
    """Whether the client's data key is gone (erased, or no key table at all): no KEK, nothing unwrapped."""
    from kim_cases.public import client_key_exists

    if client_id is None:
        return True
    async with cases.acquire() as conn:
        if not await conn.fetchval("SELECT to_regclass('client_keys') IS NOT NULL"):
            return True
    return not await client_key_exists(cases, client_id)


class Withholder:
    """Replaces each encrypted value in event data with "erased" or "withheld"; a clear value that points at the
    person (a consent's language) likewise."""

    def __init__(self, erased: bool):
        self.erased = erased

    def data(self, data: dict) -> dict:
        return {k: (ERASED if self.erased else WITHHELD) if is_encrypted(v) else v for k, v in data.items()}

    def quasi(self, value: str | None) -> str | None:
        if value is None:
            return None
        return ERASED if self.erased else WITHHELD
