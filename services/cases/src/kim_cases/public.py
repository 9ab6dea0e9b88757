"""The cases service's public functions for other programs (the `kim` CLI): key-encryption keys and client data
keys, opening what is encrypted with them, a case's state folded from its events, the access log. A program outside
the service imports these, never kim_cases' adapters, application or domain modules
(tests/unit/runtime/test_public_api.py holds the CLI to it)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import asyncpg
from kim_schemas import parse

from kim_cases import key_admin
from kim_cases.adapters.access_log import AccessLog
from kim_cases.adapters.crypto import Undecryptable, decrypt, new_key
from kim_cases.adapters.key_rotation import rotate as rotate_data_keys
from kim_cases.adapters.key_rotation import status as data_key_status
from kim_cases.adapters.key_setup import prepare as prepare_keys
from kim_cases.adapters.keyring import Keyring, MasterKey, MasterKeyError
from kim_cases.adapters.keyring import from_settings as keyring_from_settings
from kim_cases.adapters.keyring import generate as generate_kek
from kim_cases.adapters.keyring import parse as parse_keks
from kim_cases.adapters.keys import KeyStore
from kim_cases.application.personal import HEALTH, mentions_health
from kim_cases.application.views import StateReader, case_state
from kim_cases.domain import Case, Client
from kim_cases.settings import CasesSettings

__all__ = [
    "HEALTH", "AccessLog", "CasesSettings", "Keyring", "MasterKey", "MasterKeyError", "StateReader", "Undecryptable",
    "UnreadableHistory", "case_state_at", "client_data_key", "data_key_status", "decrypt", "generate_kek",
    "key_admin", "keyring_from_settings", "mentions_health", "new_key", "parse_keks", "prepare_keys",
    "rotate_data_keys",
]

StoredEvent = tuple[str, int, dict[str, Any]]  # type, schema version, data: as a store or a Kafka record holds it


class UnreadableHistory(ValueError):
    """The events cannot be folded by this version of the cases service (a type or version its contract does not
    know, or data its models refuse)."""


def case_state_at(case_id: str, case_events: Sequence[StoredEvent], client_id: str,
                  client_events: Sequence[StoredEvent], day: date, reader: StateReader) -> dict[str, Any]:
    """The case's state as the service shows it, folded by its own aggregates from the events given (e.g. those
    up to a past moment), consent status as of `day`, encrypted fields opened by `reader`."""
    try:
        case = Case.from_events(case_id, [parse(*e) for e in case_events])
        client = Client.from_events(client_id, [parse(*e) for e in client_events])
    except (LookupError, ValueError) as exc:  # kim_schemas.UnknownEventType, pydantic.ValidationError
        raise UnreadableHistory(str(exc)) from exc
    personal = client.registered.personal if client.registered else None
    return case_state(case, reader, personal, day)


async def client_data_key(pool: asyncpg.Pool, client_id: str, keyring: Keyring | None, *,
                          unwrap: bool) -> tuple[bool, bytes | None]:
    """Whether the client's data key still exists (False once erased) and, with `unwrap` (which needs the keyring
    holding its KEK), the key itself."""
    store = KeyStore(pool, keyring)
    if not unwrap:
        return await store.exists(client_id), None
    found = await store.get(client_id)
    return found is not None, found[1] if found else None
