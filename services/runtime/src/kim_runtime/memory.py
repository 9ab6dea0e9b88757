"""An event store in memory, for unit tests: the same interface and semantics as `store.EventStore`, no I/O.

`InMemoryEventStore(topic, schedule=)` appends with an expected version (`ConcurrencyConflict` on a stale one),
gives every event a global position and, with a topic, one outbox entry; `read_stream`, `stream_version` and
`read_all(from_position)` read what is committed. Its `pool` is the unit of work: `pool.acquire()` gives a connection
whose `transaction()` commits every append made with `conn=` together, or none of them (an exception rolls back).
As in PostgreSQL, a transaction holds each stream it appended to until it ends (a second writer waits, then sees the
new version), readers outside it see nothing of it until it commits, and a position taken by a rolled-back append
is not given again (positions grow, with gaps). `routed(topic)` appends to another outbox route in the same store and
transactions (as EventStore.routed). Deadline changes of the store's `schedule` are applied at commit
(`deadlines`, keyed like the `deadlines` table).

The same contract suite (tests/store_contract.py) runs against both stores. What only PostgreSQL has: the hash chain
(audit_chain, anchors), SQL on the store's tables, the relay's sent marks, and marking a request's Idempotency-Key
claim applied in the append's transaction (an HTTP-layer claim; unit tests of handlers run without one).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import copy
import itertools
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from .envelope import Envelope
from .errors import ConcurrencyConflict
from .scheduler import Schedule, changes_of
from .store import Recorded, Write, check_stream, row_to_envelope, stored_metadata


@dataclass(frozen=True)
class OutboxEntry:
    """What the relay would publish: the event at `position`, to `topic`."""

    position: int
    topic: str


@dataclass
class _Work:
    """One transaction's (or savepoint's) appends, deadline changes and the stream heads they moved."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    heads: dict[str, int] = field(default_factory=dict)
    deadlines: list[dict] = field(default_factory=list)


class InMemoryConnection:
    """A connection of the in-memory unit of work: appends with `conn=` it are its transaction's."""

    def __init__(self, store: InMemoryEventStore):
        self.store = store
        self._work: list[_Work] = []  # the transaction, then one entry per savepoint
        self._held: dict[str, asyncio.Lock] = {}

    def is_in_transaction(self) -> bool:
        return bool(self._work)

    async def forget_idempotent_answers(self, subjects: list[str]) -> int:
        """kim_runtime.idempotency.forget on this connection: no answers are stored here; the subjects are noted (in
        the store's `forgotten`) so that a unit test can see its erasure or revocation forgets them."""
        self.store.forgotten.extend(subjects)
        return 0

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[InMemoryConnection]:
        self._work.append(_Work())
        try:
            yield self
        except BaseException:
            self._work.pop()
            if not self._work:
                self._release()
            raise
        done = self._work.pop()
        if self._work:  # a savepoint: its work becomes the enclosing transaction's
            outer = self._work[-1]
            outer.rows += done.rows
            outer.heads |= done.heads
            outer.deadlines += done.deadlines
        else:
            self.store._commit(done)
            self._release()

    def _release(self) -> None:
        for lock in self._held.values():
            lock.release()
        self._held.clear()

    async def _hold(self, stream_id: str) -> None:
        if stream_id not in self._held:
            lock = self.store._locks.setdefault(stream_id, asyncio.Lock())
            await lock.acquire()
            self._held[stream_id] = lock

    def _version(self, stream_id: str) -> int:
        for work in reversed(self._work):
            if stream_id in work.heads:
                return work.heads[stream_id]
        return self.store._heads.get(stream_id, 0)

    def _pending(self, stream_id: str) -> list[dict[str, Any]]:
        return [r for work in self._work for r in work.rows if r["stream_id"] == stream_id]


class InMemoryPool:
    """The store's unit of work, shaped like the part of asyncpg's pool the handlers use."""

    def __init__(self, store: InMemoryEventStore):
        self.store = store

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[InMemoryConnection]:
        conn = InMemoryConnection(self.store)
        try:
            yield conn
        finally:
            conn._work.clear()
            conn._release()

    async def close(self) -> None:
        return None


class InMemoryEventStore:
    """`store.EventStore` in memory. `topic`: where the outbox would publish (None: no outbox)."""

    def __init__(self, topic: str | None = None, *, schedule: Schedule | None = None):
        self.topic = topic
        self.schedule = schedule
        self.pool = InMemoryPool(self)
        self.outbox: list[OutboxEntry] = []
        self.deadlines: dict[str, dict] = {}
        self.forgotten: list[str] = []  # the subjects whose Idempotency-Key answers were forgotten (idempotency.forget)
        self._rows: list[dict[str, Any]] = []  # committed, in position order
        self._streams: dict[str, list[dict[str, Any]]] = {}
        self._heads: dict[str, int] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._positions = itertools.count(1)  # shared with routed views: positions are the store's

    def routed(self, topic: str | None) -> InMemoryEventStore:
        """The same store (its events, streams, outbox and transactions) appending to another outbox route, as
        EventStore.routed: what it appends goes to `topic`'s outbox (None: none); it sets no deadlines."""
        view = copy.copy(self)
        view.topic, view.schedule = topic, None
        return view

    # -- writing -------------------------------------------------------------------------------------------------
    async def append(
        self, stream_id: str, envelopes: Sequence[Envelope], expected_version: int, *,
        conn: InMemoryConnection | None = None, writes: Sequence[Write] = (),
    ) -> list[Recorded]:
        """Append events (their envelopes) to a stream that must be at expected_version (0: a new stream), as
        EventStore.append does; `writes` (store.Write): their `in_memory` once the append is made."""
        if not envelopes:
            return []
        check_stream(stream_id, envelopes)
        if conn is None or not conn.is_in_transaction():
            async with contextlib.AsyncExitStack() as stack:
                if conn is None:
                    conn = await stack.enter_async_context(self.pool.acquire())
                await stack.enter_async_context(conn.transaction())
                return await self.append(stream_id, envelopes, expected_version, conn=conn, writes=writes)
        await conn._hold(stream_id)
        current = conn._version(stream_id)
        if current != expected_version:
            raise ConcurrencyConflict(stream_id, expected_version, current)
        work = conn._work[-1]
        recorded = []
        for n, envelope in enumerate(envelopes, start=expected_version + 1):
            position = next(self._positions)
            work.rows.append(self._row(position, n, envelope))
            recorded.append(Recorded(position, envelope.model_copy(update={"stream_version": n})))
        work.heads[stream_id] = expected_version + len(envelopes)
        work.deadlines += changes_of(self.schedule, envelopes)
        for write in writes:
            if write.in_memory is not None:
                write.in_memory()
        return recorded

    def _row(self, position: int, version: int, envelope: Envelope) -> dict[str, Any]:
        """The envelope as PostgreSQL keeps it: metadata and data as JSON (a copy: the caller's objects stay theirs)."""
        return {
            "position": position, "event_id": envelope.id, "stream_id": envelope.stream_id, "version": version,
            "type": envelope.type, "schema_version": envelope.schema_version, "occurred_at": envelope.time,
            "metadata": _json_copy(stored_metadata(envelope, self.topic)), "data": _json_copy(envelope.data),
            "outbox": self.topic,
        }

    def _commit(self, work: _Work) -> None:
        for row in work.rows:
            bisect.insort(self._rows, row, key=lambda r: r["position"])
            self._streams.setdefault(row["stream_id"], []).append(row)
            if row["outbox"] is not None:
                bisect.insort(self.outbox, OutboxEntry(row["position"], row["outbox"]), key=lambda o: o.position)
        self._heads |= work.heads
        for change in work.deadlines:
            self._schedule(change)

    def _schedule(self, change: dict) -> None:
        """As kim_schedule: set or move a deadline by key, cancel one, or cancel every key with a prefix."""
        if "cancel_prefix" in change:
            for key in [k for k in self.deadlines if k.startswith(change["cancel_prefix"])]:
                del self.deadlines[key]
        elif change.get("cancel"):
            self.deadlines.pop(change["key"], None)
        else:
            self.deadlines[change["key"]] = change

    # -- reading -------------------------------------------------------------------------------------------------
    async def read_stream(
        self, stream_id: str, *, from_version: int = 1, conn: InMemoryConnection | None = None,
    ) -> list[Envelope]:
        rows = self._streams.get(stream_id, []) + (conn._pending(stream_id) if conn is not None else [])
        return [_envelope(r) for r in sorted(rows, key=lambda r: r["version"]) if r["version"] >= from_version]

    async def stream_version(self, stream_id: str, conn: InMemoryConnection | None = None) -> int:
        return conn._version(stream_id) if conn is not None else self._heads.get(stream_id, 0)

    async def read_all(self, *, from_position: int = 0, batch_size: int = 1000) -> AsyncIterator[Recorded]:
        """Every committed event after `from_position`, in position order."""
        start = bisect.bisect_right(self._rows, from_position, key=lambda r: r["position"])
        for row in list(self._rows[start:]):
            yield Recorded(row["position"], _envelope(row))


def _envelope(row: dict[str, Any]) -> Envelope:
    """A fresh envelope each read, as from PostgreSQL: what a reader changes is not the store's."""
    return row_to_envelope({**row, "metadata": _json_copy(row["metadata"]), "data": _json_copy(row["data"])})


def _json_copy(value: Any) -> Any:
    return json.loads(json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str))
