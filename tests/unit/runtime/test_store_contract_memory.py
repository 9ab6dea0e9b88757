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


async def test_writes_are_made_in_memory_with_the_append_and_not_on_a_conflict():
    from kim_runtime.errors import ConcurrencyConflict
    from kim_runtime.store import Write
    from tests.store_contract import ev

    store, made = InMemoryEventStore(TOPIC), []
    await store.append("s-1", [ev("s-1", 1)], 0, writes=[Write("", in_memory=lambda: made.append("a"))])
    with pytest.raises(ConcurrencyConflict):
        await store.append("s-1", [ev("s-1", 2)], 0, writes=[Write("", in_memory=lambda: made.append("b"))])
    assert made == ["a"]
    assert [e.data["n"] for e in await store.read_stream("s-1")] == [1]
