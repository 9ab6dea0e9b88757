"""The event store: append with an expected version, read a stream, read everything from a position."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import asyncpg

from . import idempotency, telemetry
from .anchor import Receipts, Signer, event_digest, writer_seal
from .envelope import Envelope
from .errors import ConcurrencyConflict, NotRecorded, NotSealed
from .resilience import is_unavailable
from .scheduler import Schedule, changes_of
from .topics import is_partner_topic

_META_FIELDS = ("source", "subject", "correlation_id", "causation_id", "actor", "municipality", "key_id", "dataschema",
                "traceparent")

log = logging.getLogger(__name__)

_SELECT = (
    "SELECT position, event_id, stream_id, version, type, schema_version, occurred_at, metadata, data FROM events"
)


@dataclass(frozen=True)
class Write:
    """A write that commits with an append in the append's own statement (a data-modifying CTE beside kim_append), so
    the two need no transaction around them (BEGIN and COMMIT were two round trips of their own): e.g. the new
    client's key and registration with their ClientRegistered. `sql`: one INSERT, UPDATE or DELETE with its own
    parameters $1..$n (`args`; no `$` inside its literals); `in_memory`: what memory.InMemoryEventStore does instead
    once the append is made (None: nothing). It is not applied when the append fails, nor the append when it fails."""

    sql: str
    args: tuple = ()
    in_memory: Callable[[], Any] | None = None


_PARAMETER = re.compile(r"\$(\d+)")


def _shifted(sql: str, by: int) -> str:
    """`sql` with its parameters $k renumbered $(k + by), to follow those before it in one statement."""
    return _PARAMETER.sub(lambda m: f"${int(m.group(1)) + by}", sql)


@dataclass(frozen=True)
class Recorded:
    """An event as stored: its global position and its envelope (stream_version set)."""

    position: int
    envelope: Envelope


def _upcast(type_: str, version: int, data: dict) -> tuple[int, dict]:
    from . import upcasting  # the schemas package registers its steps there

    return upcasting.upcast(type_, version, data)


def row_to_envelope(row: asyncpg.Record | Mapping[str, Any], *, upcast: bool = True) -> Envelope:
    """The envelope of a stored event (a row of `events`, or the same fields from the in-memory store)."""
    meta = row["metadata"]
    version, data = row["schema_version"], row["data"]
    if upcast:
        version, data = _upcast(row["type"], version, data)
    return Envelope(
        id=str(row["event_id"]),
        type=row["type"],
        time=row["occurred_at"],
        stream_id=row["stream_id"],
        stream_version=row["version"],
        schema_version=version,
        data=data,
        **{k: meta.get(k) for k in _META_FIELDS if meta.get(k) is not None},
    )


def stored_metadata(envelope: Envelope, topic: str | None) -> dict:
    """The envelope's metadata as stored; the trace context of the append, except for a partner topic: one
    action reaches several partners, and a shared trace id would let them link their records."""
    meta = {k: getattr(envelope, k) for k in _META_FIELDS if getattr(envelope, k) is not None}
    if is_partner_topic(topic):
        meta.pop("traceparent", None)
    elif "traceparent" not in meta and (current := telemetry.current_traceparent()):
        meta["traceparent"] = current
    return meta


def sealed_metadata(writer: Signer | None, stream_id: str, envelope: Envelope, meta: dict) -> dict:
    """The metadata with the writer seal of `writer` (kim_runtime.anchor: writer seals); unchanged without one."""
    if writer is None:
        return meta
    time = envelope.time if envelope.time.tzinfo else envelope.time.replace(tzinfo=UTC)
    digest = event_digest(envelope.id, stream_id, envelope.type, envelope.schema_version, time, meta, envelope.data)
    return {**meta, "seal": writer_seal(writer, digest)}


async def _issue_receipt(receipts: Receipts, stream_id: str, version: int, hash_: bytes) -> None:
    """Seal the committed head at once (its hash as kim_append returned it: no second read); NotSealed (503,
    Retry-After) when the receipt cannot be written: the append stands (the next anchor seals it), but the read it
    records must not be answered unsealed (issue 15)."""
    try:
        await receipts.issue(stream_id, version, hash_.hex())
    except Exception as exc:
        log.warning("could not write the receipt of %s version %d (%r); the read is refused (503), the next anchor "
                    "seals the stream", stream_id, version, exc)
        raise NotSealed(f"the read was recorded in {stream_id} but its signed receipt could not be written (the "
                        "anchor file or topic is unavailable), so nothing is shown; try again shortly") from None


def check_stream(stream_id: str, envelopes: Sequence[Envelope]) -> None:
    for e in envelopes:
        if e.stream_id != stream_id:
            raise ValueError(f"event {e.type} belongs to stream {e.stream_id}, not {stream_id}")


class EventStore:
    """One service's store. `topic` is where the outbox relay publishes what is appended (None: no outbox).

    `schedule` (kim_runtime.scheduler) names the deadlines an appended event sets, moves or cancels; they are
    written by the same kim_append call, so they commit or fail with the events."""

    def __init__(self, pool: asyncpg.Pool, topic: str | None, *, schedule: Schedule | None = None,
                 writer: Signer | None = None):
        self.pool = pool
        self.topic = topic
        self.schedule = schedule
        self._receipts: Receipts | None = None
        self._writer = writer
        self._root: EventStore | None = None  # a routed store's receipts are those of the store it was routed from

    @property
    def receipts(self) -> Receipts | None:
        """Set (ServiceRuntime at start, None at stop): an append to a stream the receipts cover
        (kim_runtime.anchor.RECEIPTED: the access log, kim audit's records) is sealed at once with a signed
        receipt, by this store and every store routed from it."""
        return self._root.receipts if self._root is not None else self._receipts

    @receipts.setter
    def receipts(self, receipts: Receipts | None) -> None:
        if self._root is not None:
            self._root.receipts = receipts
        else:
            self._receipts = receipts

    @property
    def writer(self) -> Signer | None:
        """The audit signing key this store seals every event it appends with (kim_runtime.anchor: writer seals),
        shared by every store routed from it; ServiceRuntime builds its store with the service's key. Owned by the
        store, not the process: a store built without one (a test's, the CLI's) appends unsealed whatever another
        store in the same process does."""
        return self._root.writer if self._root is not None else self._writer

    @writer.setter
    def writer(self, signer: Signer | None) -> None:
        if self._root is not None:
            self._root.writer = signer
        else:
            self._writer = signer

    def routed(self, topic: str | None) -> EventStore:
        """The same store appending to another outbox route: what it appends is published to `topic` (None: not
        published), e.g. a partner's topic, in the caller's transaction like any append; it sets no deadlines and
        shares this store's receipts and writer seal."""
        store = EventStore(self.pool, topic)
        store._root = self._root or self
        return store

    async def append(
        self,
        stream_id: str,
        envelopes: Sequence[Envelope],
        expected_version: int,
        *,
        conn: asyncpg.Connection | None = None,
        writes: Sequence[Write] = (),
    ) -> list[Recorded]:
        """Append events (their envelopes) to a stream that must be at expected_version (0: a new stream).

        Runs in the caller's transaction when `conn` is given, so other writes commit or fail with it. `writes`: more
        writes made in the append's own statement (Write), committed or failed with it in one round trip.
        Raises ConcurrencyConflict when the stream is at another version.
        """
        if not envelopes:
            return []
        check_stream(stream_id, envelopes)
        with telemetry.span("append", attributes={"kim.event.types": sorted({e.type for e in envelopes}),
                                                  "kim.events": len(envelopes)}):
            args = (
                stream_id,
                expected_version,
                self.topic,
                [e.id for e in envelopes],
                [e.type for e in envelopes],
                [e.schema_version for e in envelopes],
                [e.time for e in envelopes],
                [sealed_metadata(self.writer, stream_id, e, stored_metadata(e, self.topic)) for e in envelopes],
                [e.data for e in envelopes],
            )
            recorded = await self._append(stream_id, envelopes, expected_version, args, conn, writes)
        # a request's stored answer (Idempotency-Key) concerns what it appended: forgotten on erasure or revocation
        idempotency.concerns(stream_id, *{e.subject for e in envelopes})
        return recorded

    async def _append(self, stream_id: str, envelopes: Sequence[Envelope], expected_version: int, args: tuple,
                      conn: asyncpg.Connection | None, writes: Sequence[Write] = ()) -> list[Recorded]:
        sql = "SELECT out_position, out_version, out_hash FROM kim_append($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        deadlines = changes_of(self.schedule, envelopes)
        if deadlines:
            args = (*args, deadlines)
            sql = "SELECT out_position, out_version, out_hash FROM kim_append($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        claim = idempotency.current()  # the request's Idempotency-Key: marked applied in this same transaction
        try:
            if conn is not None:
                rows = await self._fetch(conn, sql, args, claim, writes)
            else:
                async with self.pool.acquire() as c:
                    rows = await self._fetch(c, sql, args, claim, writes)
        except asyncpg.PostgresError as exc:
            if getattr(exc, "sqlstate", None) == "KIM01":
                raise ConcurrencyConflict(stream_id, expected_version, int(exc.detail or 0)) from None
            if getattr(exc, "sqlstate", None) == "23505" and "events_stream_id_version_key" in str(exc):
                raise ConcurrencyConflict(stream_id, expected_version, None) from None
            raise
        if claim is not None:
            claim.applied, claim.deferred = True, False  # held now: a second append of the request marks it
        receipts = self.receipts if conn is None else None
        if receipts is not None and receipts.covers(stream_id):  # committed: seal the new head at once
            await _issue_receipt(receipts, stream_id, rows[-1]["out_version"], rows[-1]["out_hash"])
        return [
            Recorded(r["out_position"], e.model_copy(update={"stream_version": r["out_version"]}))
            for r, e in zip(rows, envelopes, strict=True)
        ]

    @staticmethod
    async def _fetch(conn: asyncpg.Connection, sql: str, args: tuple, claim, writes: Sequence[Write] = ()) -> list:
        """The append; with a request's Idempotency-Key claim, the append and the claim's `applied` mark (or, for a
        deferred claim, the claim itself) in one statement, one round trip, in the caller's transaction or on its
        own (no BEGIN and COMMIT around it). A claim that is no longer held, or a deferred one that finds the key
        used, fails the statement (kim_claim_held, migration 009: KIM02, raised as KeyLost or KeyTaken), so nothing
        of it stays: neither the events nor the mark. `writes` join the same statement, each as a
        data-modifying CTE (they see the snapshot the statement started with, as kim_append does not see them)."""
        if claim is None and not writes:
            return await conn.fetch(sql, *args)
        ctes, args = [], list(args)
        for n, write in enumerate(writes):
            ctes.append(f"w{n} AS ({_shifted(write.sql, len(args))})")
            args.extend(write.args)
        held = ""
        if claim is not None:  # its `applied` mark, or (a deferred claim) the claim itself: one row when it holds
            marked, marked_args = claim.in_statement(len(args))
            ctes.append(f"mark AS ({marked})")
            args.extend(marked_args)
            held = ", kim_claim_held((SELECT count(*) FROM mark)) AS marked"
        statement = f"WITH {', '.join(ctes)}, appended AS ({sql}) SELECT *{held} FROM appended"
        try:
            return await conn.fetch(statement, *args)
        except asyncpg.PostgresError as exc:
            if claim is not None and getattr(exc, "sqlstate", None) == "KIM02":
                raise claim.lost() from None
            raise

    async def read_stream(
        self, stream_id: str, *, from_version: int = 1, conn: asyncpg.Connection | None = None
    ) -> list[Envelope]:
        sql = f"{_SELECT} WHERE stream_id = $1 AND version >= $2 ORDER BY version"
        if conn is not None:
            rows = await conn.fetch(sql, stream_id, from_version)
        else:
            async with self.pool.acquire() as c:
                rows = await c.fetch(sql, stream_id, from_version)
        return [row_to_envelope(r) for r in rows]

    async def stream_version(self, stream_id: str, conn: asyncpg.Connection | None = None) -> int:
        if conn is None:
            async with self.pool.acquire() as c:
                return await self.stream_version(stream_id, c)
        return await conn.fetchval("SELECT version FROM streams WHERE stream_id = $1", stream_id) or 0

    async def read_all(self, *, from_position: int = 0, batch_size: int = 1000) -> AsyncIterator[Recorded]:
        """Every event after `from_position`, in position order, fetched in batches."""
        position = from_position
        while True:
            async with self.pool.acquire() as c:
                rows = await c.fetch(f"{_SELECT} WHERE position > $1 ORDER BY position LIMIT $2", position, batch_size)
            for r in rows:
                yield Recorded(r["position"], row_to_envelope(r))
            if len(rows) < batch_size:
                return
            position = rows[-1]["position"]


@asynccontextmanager
async def must_record(what: str) -> AsyncIterator[None]:
    """Around writing something that must be recorded before the request is answered (e.g. a refusal's decision):
    when the database fails meanwhile (is_unavailable: connection lost, disk full, a standby, ...), raise
    NotRecorded, which the HTTP layer answers 503 with Retry-After, saying what could not be recorded. Whatever the
    block wrote in its own transaction is rolled back with it, so nothing is half-written; other errors pass."""
    try:
        yield
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        raise NotRecorded(f"{what} could not be recorded: the database failed while it was written; nothing was "
                          "written, retry shortly") from exc
