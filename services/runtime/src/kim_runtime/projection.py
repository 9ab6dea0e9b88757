"""Projections: read models kept in their own PostgreSQL schema, fed by Kafka, rebuildable without downtime.

A projection's tables live in a schema named after it, so a rebuild can fill a fresh schema (`<name>__rebuild`)
while readers keep using the live one, then swap the two in one transaction. Live handling takes a shared advisory
lock per projection; the swap takes it exclusively, so no live effect can slip in between the rebuild's last
event and the swap (readers, who take no lock, never see a gap).
"""

from __future__ import annotations

import hashlib
from typing import Any
from collections.abc import Collection, Sequence

import asyncpg

from .contract import Contract
from .envelope import Envelope

REBUILD_SUFFIX = "__rebuild"


def lock_key(name: str) -> int:
    """A stable 63-bit advisory lock key for a projection name."""
    return int.from_bytes(hashlib.sha256(f"projection:{name}".encode()).digest()[:8], "big") & (2**63 - 1)


class Projection:
    """Subclass: set name, topics and ddl (statements using {schema}); implement apply (and apply_batch for speed).

    `apply` gets only events the contract's models have read (`event.event` is the model, `event.data` its dump).
    `event_types`: the event classes it takes (the live consumer passes over and counts the others; None: every type;
    a rebuild hands every valid event to apply_batch); `contract` is the event contract (None: kim_schemas).
    """

    name: str
    topics: Sequence[str]
    ddl: str = ""
    event_types: Collection[type] | None = None  # event classes (dispatch.accepted)
    contract: Contract | None = None
    # kim_runtime.sealing.Unsealer: opens sealed fields before apply (live and rebuild); an envelope whose key is
    # gone (an erased client) comes sealed. None: envelopes come as they are.
    unsealer: Any = None

    async def apply(self, conn: asyncpg.Connection, schema: str, envelope: Envelope) -> object:
        raise NotImplementedError

    async def apply_batch(self, conn: asyncpg.Connection, schema: str, envelopes: Sequence[Envelope]) -> None:
        """Used by rebuilds; override to aggregate in memory and write once (and call `opened` first)."""
        for envelope in await self.opened(envelopes):
            await self.apply(conn, schema, envelope)

    async def opened(self, envelopes: Sequence[Envelope]) -> list[Envelope]:
        """The envelopes with their sealed fields opened where the key is known, else as they came."""
        if self.unsealer is None:
            return list(envelopes)
        opened = await self.unsealer.open_all(list(envelopes))
        return [o if o is not None else e for o, e in zip(opened, envelopes, strict=True)]

    async def create_schema(self, conn: asyncpg.Connection, schema: str | None = None) -> None:
        schema = schema or self.name
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        if self.ddl:
            await conn.execute(self.ddl.format(schema=f'"{schema}"'))


class ProcessManager(Projection):
    """A projection that also acts on what it sees (a policy, a process manager): its tables are state like any
    projection's, rebuilt from the history by `kim replay` into a fresh schema and swapped in; live, after `apply`
    changed them, `react` decides and may append events, on the consumer's connection, so a decision commits with the
    event's inbox claim and is taken once per event even when Kafka redelivers.

    A rebuild only applies (apply_batch) and never reacts: what the process decided back then is in its store
    already. So that its state holds what it decided (e.g. what it last announced), a subclass reads its own
    events back as state: its service's topic is in `topics` and `apply` takes those events, which the live
    consumer may leave out of `event_types` (live, `react` wrote that state when it decided). A replay therefore
    appends nothing."""

    async def react(self, conn: asyncpg.Connection, schema: str, envelope: Envelope, applied: object) -> None:
        """Live only, after `apply` (whose result is `applied`), in the same transaction."""


class ProjectionHandler:
    """Adapts a Projection (or a ProcessManager) to the ConsumerRunner's Handler protocol for live updates."""

    def __init__(self, projection: Projection):
        self.projection = projection
        self.name = projection.name
        self.topics = tuple(projection.topics)
        self.event_types, self.contract = projection.event_types, projection.contract
        # taken by the ConsumerRunner before it claims the event, so the claim and the effect wait for a swap
        self.advisory_lock = lock_key(projection.name)

    async def handle(self, conn: asyncpg.Connection, envelope: Envelope) -> None:
        schema = f'"{self.projection.name}"'
        (envelope,) = await self.projection.opened([envelope])
        applied = await self.projection.apply(conn, schema, envelope)
        if isinstance(self.projection, ProcessManager):
            await self.projection.react(conn, schema, envelope, applied)


async def prepare_rebuild(conn: asyncpg.Connection, projection: Projection, *, resume: bool) -> str:
    """The rebuild's fresh schema: kept when resuming, else dropped with its inbox claims, checkpoints (Kafka
    offsets) and store checkpoints (store positions)."""
    fresh = projection.name + REBUILD_SUFFIX
    exists = await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", fresh)
    if exists and not resume:
        await conn.execute(f'DROP SCHEMA "{fresh}" CASCADE')
    if not exists or not resume:
        for table in ("inbox", "checkpoints", "store_checkpoints"):
            await conn.execute(f"DELETE FROM {table} WHERE consumer = $1", fresh)
    await projection.create_schema(conn, fresh)
    return fresh


async def swap_in_rebuild(conn: asyncpg.Connection, projection: Projection) -> None:
    """Inside the caller's transaction (which holds the exclusive lock): the rebuilt schema becomes the live one.

    The inbox and checkpoints written under the rebuild's consumer name take over the live name.
    """
    live, fresh, old = projection.name, projection.name + REBUILD_SUFFIX, projection.name + "__old"
    await conn.execute(f'DROP SCHEMA IF EXISTS "{old}" CASCADE')
    if await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", live):
        await conn.execute(f'ALTER SCHEMA "{live}" RENAME TO "{old}"')
    await conn.execute(f'ALTER SCHEMA "{fresh}" RENAME TO "{live}"')
    await conn.execute(f'DROP SCHEMA IF EXISTS "{old}" CASCADE')
    for table in ("inbox", "checkpoints"):
        await conn.execute(f"DELETE FROM {table} WHERE consumer = $1", live)
        await conn.execute(f"UPDATE {table} SET consumer = $1 WHERE consumer = $2", live, fresh)


async def lag(conn: asyncpg.Connection, consumer: str, end_offsets: dict[tuple[str, int], int]) -> dict:
    """Events and seconds behind for a consumer, given each partition's end offset (the next offset to be written)."""
    rows = await conn.fetch(
        'SELECT topic, partition, "offset", event_time FROM checkpoints WHERE consumer = $1', consumer
    )
    done = {(r["topic"], r["partition"]): r for r in rows}
    behind = 0
    oldest = None
    for tp, end in end_offsets.items():
        row = done.get(tp)
        behind += max(0, end - (row["offset"] + 1 if row else 0))
        if row and row["event_time"] and (oldest is None or row["event_time"] < oldest):
            oldest = row["event_time"]
    return {"events_behind": behind, "last_event_time": oldest}
