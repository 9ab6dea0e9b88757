"""SQL of the grants / positions / occupancies read model (written with the events, in their transaction)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import asyncpg

from ..domain.grant import Grant
from ..domain.position import Position
from ..domain.timeline import Load, Span


async def lock(conn: asyncpg.Connection, name: str) -> None:
    """Serialise writers of one grant (positions of a grant are checked together) until the transaction ends."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"staffing:{name}")


async def save_grant(conn: asyncpg.Connection, grant: Grant) -> None:
    a = grant.awarded
    await conn.execute(
        """INSERT INTO grants VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (grant_id) DO UPDATE SET version = excluded.version""",
        grant.grant_id, a.baustein.value, a.period_from, a.period_to, a.vza, a.rate_per_vza, a.reference,
        grant.version,
    )


async def save_position(conn: asyncpg.Connection, p: Position) -> None:
    e = p.established
    await conn.execute(
        """INSERT INTO positions VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
           ON CONFLICT (position_id) DO UPDATE SET grant_id = excluded.grant_id, funded_from = excluded.funded_from,
             from_programme = excluded.from_programme, transferred_on = excluded.transferred_on,
             version = excluded.version""",
        p.position_id, e.baustein.value, e.vza, e.host_organisation_id, e.municipality, e.funding_source.value,
        p.grant_id, p.funded_from, e.valid_from, e.valid_to, p.from_programme,
        p.funded_from if p.from_programme else None, p.version,
    )
    await conn.execute("DELETE FROM occupancies WHERE position_id = $1", p.position_id)
    await conn.executemany(
        "INSERT INTO occupancies VALUES ($1, $2, $3, $4, $5, $6)",
        [(p.position_id, i, o.staff_member_id, o.share, o.span.start, o.span.end)
         for i, o in enumerate(p.occupancies)],
    )


async def grant_loads(conn: asyncpg.Connection, grant_id: str) -> list[Load]:
    """VZÄ the grant already pays for, as (span, vza) per position."""
    rows = await conn.fetch("SELECT vza, funded_from, valid_to FROM positions WHERE grant_id = $1", grant_id)
    return [(Span.inclusive(r["funded_from"], r["valid_to"]), r["vza"]) for r in rows]


async def staff_share(conn: asyncpg.Connection, staff_member_id: str, day: date) -> Decimal | None:
    """The VZÄ a staff member fills on `day` across positions (None: they fill none)."""
    return await conn.fetchval(
        """SELECT sum(vza_share) FROM occupancies WHERE staff_member_id = $1
           AND from_date <= $2 AND (to_date IS NULL OR to_date > $2)""",
        staff_member_id, day,
    )


async def grants(conn: asyncpg.Connection, grant_id: str | None = None) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT g.*, coalesce((SELECT sum(p.vza) FROM positions p WHERE p.grant_id = g.grant_id
                 AND p.funded_from <= current_date AND (p.valid_to IS NULL OR p.valid_to >= current_date)), 0)
                 AS allocated_vza_today
           FROM grants g WHERE $1::text IS NULL OR g.grant_id = $1 ORDER BY g.period_from, g.grant_id""",
        grant_id,
    )


async def positions(conn: asyncpg.Connection, *, position_id: str | None = None, grant_id: str | None = None,
                    municipality: str | None = None, baustein: str | None = None) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT p.*, coalesce((SELECT sum(o.vza_share) FROM occupancies o WHERE o.position_id = p.position_id
                 AND o.from_date <= current_date AND (o.to_date IS NULL OR o.to_date > current_date)), 0)
                 AS filled_vza_today
           FROM positions p
           WHERE ($1::text IS NULL OR p.position_id = $1) AND ($2::text IS NULL OR p.grant_id = $2)
             AND ($3::text IS NULL OR p.municipality = $3) AND ($4::text IS NULL OR p.baustein = $4)
           ORDER BY p.municipality, p.baustein, p.position_id""",
        position_id, grant_id, municipality, baustein,
    )


async def occupancies(conn: asyncpg.Connection, position_ids: list[str]) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM occupancies WHERE position_id = ANY($1::text[]) ORDER BY position_id, seq", position_ids
    )


async def coverage_rows(conn: asyncpg.Connection, window_from: date, window_to: date):
    """Positions and occupancies that touch [window_from, window_to] (inclusive), with their cell."""
    positions_ = await conn.fetch(
        """SELECT municipality, baustein, vza, valid_from, valid_to, grant_id, funded_from FROM positions
           WHERE valid_from <= $2 AND (valid_to IS NULL OR valid_to >= $1)""", window_from, window_to)
    filled = await conn.fetch(
        """SELECT p.municipality, p.baustein, o.vza_share, o.from_date, o.to_date, p.valid_to
           FROM occupancies o JOIN positions p USING (position_id)
           WHERE o.from_date <= $2 AND (o.to_date IS NULL OR o.to_date > $1)""", window_from, window_to)
    return positions_, filled
