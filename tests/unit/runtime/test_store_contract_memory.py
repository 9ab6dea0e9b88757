"""The event store contract (tests/store_contract.py) against the in-memory store: the unit tier's backend."""

from __future__ import annotations

import pytest

from kim_runtime.memory import InMemoryEventStore
from tests.store_contract import SCHEDULE, TOPIC, StoreContract


class TestInMemoryStore(StoreContract):
    @pytest.fixture
    def store(self):
        return InMemoryEventStore(TOPIC, schedule=SCHEDULE)

    @pytest.fixture
    def unpublished_store(self):
        return InMemoryEventStore(None)

    async def outbox(self, store):
        return [(o.position, o.topic) for o in store.outbox]

    async def deadline_keys(self, store):
        return set(store.deadlines)
