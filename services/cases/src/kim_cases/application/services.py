"""What the command and query handlers share: the store, the key store, the access log, the registrations."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from kim_runtime.auth import Principal
from kim_runtime.sealing import Sealing
from kim_runtime.store import EventStore

from kim_cases.adapters.access_log import AccessLog
from kim_cases.adapters.keyring import Keyring
from kim_cases.adapters.keys import KeyStore
from kim_cases.adapters.registrations import ClientRegistrations
from kim_cases.application.personal import PersonalReader
from kim_cases.application.repository import Repository


@dataclass
class Services:
    pool: asyncpg.Pool
    store: EventStore
    keys: KeyStore
    access_log: AccessLog
    repo: Repository
    registrations: ClientRegistrations

    @classmethod
    def build(cls, pool: asyncpg.Pool, store: EventStore, keyring: Keyring) -> Services:
        keys = KeyStore(pool, keyring)
        return cls(pool, store, keys, AccessLog(store), Repository(store, Sealing(keys.get)), ClientRegistrations(pool))

    async def reader(self, principal: Principal, client_id: str) -> PersonalReader:
        return await PersonalReader.for_client(principal, client_id, self.keys, self.access_log)
