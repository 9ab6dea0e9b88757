"""The cases service's public functions for other programs (the `kim` CLI): key-encryption keys and client data
keys for `kim keys` and `kim bench` (generate, rotate, status: they re-wrap keys and open no personal data), whether
a client's data key still exists, the access log. Nothing here opens personal data: the CLI holds no KEK for that
and decrypts nothing; the service opens a client's data for an auditor itself (GET /audit/cases/{case_id}, issue
15). A program outside the service imports these, never kim_cases' adapters, application or domain modules
(tests/unit/runtime/test_public_api.py holds the CLI to it).
"""

from __future__ import annotations

import asyncpg

from kim_cases import key_admin
from kim_cases.adapters.access_log import AccessLog
from kim_cases.adapters.crypto import Undecryptable, new_key
from kim_cases.adapters.key_rotation import rotate as rotate_data_keys
from kim_cases.adapters.key_rotation import status as data_key_status
from kim_cases.adapters.key_setup import prepare as prepare_keys
from kim_cases.adapters.keyring import Keyring, MasterKey, MasterKeyError
from kim_cases.adapters.keyring import from_settings as keyring_from_settings
from kim_cases.adapters.keyring import generate as generate_kek
from kim_cases.adapters.keyring import parse as parse_keks
from kim_cases.adapters.keys import KeyStore
from kim_cases.settings import CasesSettings

__all__ = [
    "AccessLog", "CasesSettings", "Keyring", "MasterKey", "MasterKeyError", "Undecryptable", "client_key_exists",
    "data_key_status", "generate_kek", "key_admin", "keyring_from_settings", "new_key", "parse_keks", "prepare_keys",
    "rotate_data_keys", "unsealer_for",
]


async def client_key_exists(pool: asyncpg.Pool, client_id: str) -> bool:
    """Whether the client's data key still exists (False once erased); nothing is unwrapped."""
    return await KeyStore(pool, None).exists(client_id)


def unsealer_for(pool: asyncpg.Pool, keyring: Keyring):
    """What opens the sealed dates and codes of kim.cases events with the clients' keys in the cases database, for
    `kim replay` of the cases service's own projections (the service gives its projections its own when it runs)."""
    from kim_runtime.sealing import Sealing

    return Sealing(KeyStore(pool, keyring).get).unsealer
