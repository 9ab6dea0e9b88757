"""Projections that gather a batch of events into rows in memory and write each table once.

Live handling applies a batch of one, so live and rebuild share one code path. Two kinds of table:
- append tables: one row per event (histories such as the case timeline), written with COPY for big batches;
- entity tables: one row per id, merged in memory (the latest non-empty value of a column wins) and upserted with
  the same rule, so the events of one entity may arrive over several batches.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import ClassVar

import asyncpg

from kim_runtime.dispatch import by_type
from kim_runtime.envelope import Envelope
from kim_runtime.projection import Projection

COPY_THRESHOLD = 64


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[tuple[str, str], ...]  # (column, PostgreSQL type)
    key: tuple[str, ...] = ()  # entity tables: the primary key; append tables: ()


@dataclass
class Batch:
    appends: dict[str, list[tuple]] = field(default_factory=dict)
    entities: dict[str, dict[tuple, dict]] = field(default_factory=dict)

    def append(self, table: str, row: tuple) -> None:
        self.appends.setdefault(table, []).append(row)

    def merge(self, table: str, key: tuple, **values) -> None:
        row = self.entities.setdefault(table, {}).setdefault(key, {})
        row.update({k: v for k, v in values.items() if v is not None})


Collector = Callable[[Batch, Envelope], None]


def day(value: str | None) -> date | None:
    """A date field of an event's data ("2025-03-01"); None for one left out."""
    return date.fromisoformat(value) if value else None


def day_of(instant: str) -> date:
    """The date of a timestamp field of an event's data, as written (in its own offset)."""
    return datetime.fromisoformat(instant).date()


class BatchProjection(Projection):
    """Subclass: set name, `tables` (and `indexes`, CREATE INDEX statements using {schema}), and `collectors`
    ({event class: function filling the batch}); topics are given when it is made.

    The rest is derived once per subclass: `ddl` from the tables and indexes; `event_types` are the collectors'
    classes (the runtime passes over, and counts, the other types), and the type names an envelope is looked up by
    are derived from them by kim_runtime.dispatch."""

    tables: ClassVar[Sequence[Table]] = ()
    indexes: ClassVar[Sequence[str]] = ()
    collectors: ClassVar[Mapping[type, Collector]] = {}
    _by_type: ClassVar[dict[str, Collector]] = {}

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        cls.ddl = table_ddl("{schema}", cls.tables, cls.indexes)
        cls.event_types = tuple(cls.collectors)
        cls._by_type = by_type(cls.collectors)

    def __init__(self, topics: Sequence[str]):
        self.topics = tuple(topics)

    async def apply(self, conn: asyncpg.Connection, schema: str, event: Envelope) -> None:
        await self.apply_batch(conn, schema, [event])

    async def apply_batch(self, conn: asyncpg.Connection, schema: str, events: Sequence[Envelope]) -> None:
        batch = Batch()
        for event in events:
            collect = self._by_type.get(event.type)
            if collect is not None:
                collect(batch, event)
        for table in self.tables:
            if table.key:
                rows = batch.entities.get(table.name)
                if rows:
                    await _upsert(conn, schema, table, rows)
            else:
                rows = batch.appends.get(table.name)
                if rows:
                    await _insert(conn, schema, table, rows)


async def _insert(conn: asyncpg.Connection, schema: str, table: Table, rows: list[tuple]) -> None:
    names = [c for c, _ in table.columns]
    if len(rows) >= COPY_THRESHOLD:
        await conn.copy_records_to_table(table.name, records=rows, columns=names, schema_name=schema.strip('"'))
        return
    marks = ", ".join(f"${i}" for i in range(1, len(names) + 1))
    await conn.executemany(f"INSERT INTO {schema}.{table.name} ({', '.join(names)}) VALUES ({marks})", rows)


async def _upsert(conn: asyncpg.Connection, schema: str, table: Table, rows: dict[tuple, dict]) -> None:
    names = [c for c, _ in table.columns]
    arrays = [[] for _ in names]
    for key, values in rows.items():
        full = dict(zip(table.key, key, strict=True)) | values
        for i, name in enumerate(names):
            arrays[i].append(full.get(name))
    unnest = ", ".join(f"${i + 1}::{t}[]" for i, (_, t) in enumerate(table.columns))
    updates = ", ".join(
        f"{c} = coalesce(excluded.{c}, {table.name}.{c})" for c in names if c not in table.key
    )
    await conn.execute(
        f"INSERT INTO {schema}.{table.name} ({', '.join(names)}) SELECT * FROM unnest({unnest}) "
        f"ON CONFLICT ({', '.join(table.key)}) DO UPDATE SET {updates}",
        *arrays,
    )


def table_ddl(schema_placeholder: str, tables: Sequence[Table], indexes: Sequence[str] = ()) -> str:
    """CREATE TABLE statements for the tables (schema placeholder '{schema}' kept for Projection.create_schema)."""
    out = []
    for t in tables:
        cols = ", ".join(f"{c} {typ}" for c, typ in t.columns)
        pk = f", PRIMARY KEY ({', '.join(t.key)})" if t.key else ""
        out.append(f"CREATE TABLE IF NOT EXISTS {schema_placeholder}.{t.name} ({cols}{pk});")
    out.extend(indexes)
    return "\n".join(out)
