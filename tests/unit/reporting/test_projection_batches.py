"""Projections gather a batch into rows: any split of a history into batches gives the same tables as one event at a
time (an in-memory stand-in for PostgreSQL that follows the two statement shapes the projections use)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kim_reporting.adapters.projections.cases import CasesProjection
from kim_reporting.adapters.projections.referrals import ReferralsProjection
from kim_reporting.adapters.projections.reports import ReportsProjection
from kim_reporting.adapters.projections.staffing import StaffingProjection
from kim_runtime.consumer import ConsumerRunner
from kim_runtime.projection import ProjectionHandler
from kim_schemas.base import Event
from tests.integration.reporting.history import generate

_TABLE = re.compile(r'INSERT INTO "?[\w]+"?\.(\w+) \(([^)]*)\)')


class FakeConn:
    """Append tables: a list of rows. Entity tables (ON CONFLICT): a dict, latest non-empty value per column wins."""

    def __init__(self, projection):
        self.keys = {t.name: t.key for t in projection.tables}
        self.rows: dict[str, list | dict] = {}

    async def execute(self, sql: str, *arrays) -> None:
        table, cols = _TABLE.match(sql).groups()
        names = [c.strip() for c in cols.split(",")]
        key = self.keys[table]
        store = self.rows.setdefault(table, {})
        for values in zip(*arrays, strict=True):
            row = dict(zip(names, values, strict=True))
            old = store.setdefault(tuple(row[k] for k in key), {})
            old.update({k: v for k, v in row.items() if v is not None})

    async def executemany(self, sql: str, rows) -> None:
        table, _ = _TABLE.match(sql).groups()
        self.rows.setdefault(table, []).extend(tuple(r) for r in rows)

    async def copy_records_to_table(self, table: str, *, records, columns, schema_name) -> None:
        self.rows.setdefault(table, []).extend(tuple(r) for r in records)

    def tables(self) -> dict:
        return {t: sorted(map(repr, v)) if isinstance(v, list) else v for t, v in self.rows.items()}


HISTORY = generate(seed=2, clients=25, positions=5)


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(["cases", "referrals", "staffing"]), st.lists(st.integers(1, 400), min_size=1, max_size=8))
async def test_any_split_into_batches_gives_the_same_tables(service, cuts):
    projection = {"cases": CasesProjection, "referrals": ReferralsProjection, "staffing": StaffingProjection}[
        service](["t"])
    events = HISTORY.events[service]
    one_by_one, batched = FakeConn(projection), FakeConn(projection)
    for event in events:
        await projection.apply(one_by_one, '"s"', event)
    bounds = sorted({0, len(events), *(c % len(events) for c in cuts)})
    for start, end in zip(bounds, bounds[1:]):
        await projection.apply_batch(batched, '"s"', events[start:end])
    assert batched.tables() == one_by_one.tables()
    assert one_by_one.rows  # the history fills the tables


async def test_a_case_opened_and_closed_in_one_batch_is_one_row_with_both():
    projection = CasesProjection(["t"])
    conn = FakeConn(projection)
    case = next(e.data["case_id"] for e in HISTORY.events["cases"] if e.type.endswith("CaseClosed"))
    await projection.apply_batch(conn, '"s"', [e for e in HISTORY.events["cases"] if e.stream_id == case])
    (row,) = conn.rows["cases"].values()
    assert row["opened_on"] and row["closed_on"] and row["access_channel"] and row["close_reason"]
    assert [r[3] for r in conn.rows["case_timeline"]][0] == "opened"


@pytest.mark.parametrize("projection", [CasesProjection, ReferralsProjection, StaffingProjection, ReportsProjection])
def test_a_projection_takes_the_event_classes_of_its_collectors_and_the_runtime_names_them(projection):
    """`event_types` are the collectors' classes (no second list of names): what the live consumer takes
    (kim_runtime.dispatch.accepted) is exactly what apply_batch has a collector for."""
    assert all(isinstance(c, type) and issubclass(c, Event) for c in projection.event_types)
    assert tuple(projection.event_types) == tuple(projection.collectors)
    wanted = ProjectionHandler(projection(["t"]))
    assert ConsumerRunner.wanted_by(wanted) == set(projection._by_type) == {c.event_type for c in projection.collectors}
