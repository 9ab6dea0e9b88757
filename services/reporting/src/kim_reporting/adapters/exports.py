"""CSV rendering of cells and the audit row every export leaves behind."""

from __future__ import annotations

import csv
import io

import asyncpg

from kim_runtime.auth import Principal

COLUMNS = ("period", "indicator", "municipality", "baustein", "dimension", "dimension_value", "value", "suppressed")


def to_csv(rows: list[dict]) -> str:
    """rows: public cells ({'period', 'indicator', 'municipality', 'baustein', 'dimensions', 'value', 'suppressed'})."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in rows:
        (dim, dim_value), = r["dimensions"].items() or [("", "")]
        writer.writerow([r["period"], r["indicator"], r["municipality"] or "alle", r["baustein"] or "alle", dim,
                         dim_value, "" if r["value"] is None else r["value"], "true" if r["suppressed"] else "false"])
    return out.getvalue()


async def record_export(conn: asyncpg.Connection, principal: Principal, what: str, parameters: dict,
                        cells: int) -> None:
    await conn.execute("INSERT INTO exports (actor, role, what, parameters, cells) VALUES ($1, $2, $3, $4, $5)",
                       principal.sub, principal.role.value, what, parameters, cells)
