"""SQL of the caseload policy's tables: which case each staff member manages, and their announced limit state.

They are the `caseload` projection's (application/caseload.py: CaseloadPolicy, a kim_runtime ProcessManager), in
its own PostgreSQL schema, so `kim replay caseload` rebuilds them into a fresh schema and swaps it in. `schema`: the
quoted schema to write (the live one, or a rebuild's)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import asyncpg
from kim_runtime.projection import lock_key

LIVE = '"caseload"'  # the projection's schema (its name)

# A manager named by an event only replaces one named by an earlier event: the cases and staffing topics are
# ordered per case within each topic but not across them.
SET_MANAGER = """
INSERT INTO {schema}.caseload_cases AS c (case_id, staff_member_id, municipality, baustein, status, manager_since,
                                 team_organisation_id, updated_at)
VALUES ($1, $2, $3, $4, coalesce($5, 'unknown'), $6, $7, now())
ON CONFLICT (case_id) DO UPDATE SET
    staff_member_id = CASE WHEN c.manager_since IS NULL OR excluded.manager_since >= c.manager_since
                           THEN excluded.staff_member_id ELSE c.staff_member_id END,
    manager_since = greatest(c.manager_since, excluded.manager_since),
    municipality = coalesce(excluded.municipality, c.municipality),
    team_organisation_id = coalesce(excluded.team_organisation_id, c.team_organisation_id),
    baustein = coalesce(excluded.baustein, c.baustein),
    status = CASE WHEN c.status = 'closed' OR $5::text IS NULL THEN c.status ELSE $5 END,
    updated_at = now()
RETURNING c.staff_member_id
"""


async def set_manager(conn: asyncpg.Connection, case_id: str, staff_member_id: str, since: datetime, *,
                      municipality: str | None = None, baustein: str | None = None,
                      status: str | None = None, team: str | None = None, schema: str = LIVE) -> set[str]:
    """Record a manager (and optionally where the case is and its status); returns the staff members touched."""
    before = await conn.fetchval(
        f"SELECT staff_member_id FROM {schema}.caseload_cases WHERE case_id = $1 FOR UPDATE", case_id)
    after = await conn.fetchval(SET_MANAGER.format(schema=schema), case_id, staff_member_id, municipality, baustein,
                                status, since, team)
    return {s for s in (before, after) if s}


async def set_status(conn: asyncpg.Connection, case_id: str, status: str, *, schema: str = LIVE) -> set[str]:
    row = await conn.fetchrow(
        f"""INSERT INTO {schema}.caseload_cases AS c (case_id, status) VALUES ($1, $2)
           ON CONFLICT (case_id) DO UPDATE SET status = CASE WHEN c.status = 'closed' THEN c.status ELSE $2 END,
             updated_at = now()
           RETURNING staff_member_id""", case_id, status)
    return {row["staff_member_id"]} if row["staff_member_id"] else set()


async def case(conn: asyncpg.Connection, case_id: str, *, schema: str = LIVE) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT * FROM {schema}.caseload_cases WHERE case_id = $1", case_id)


async def hold_live(conn: asyncpg.Connection) -> None:
    """A command writing the live tables takes the projection's lock (shared) as its consumer does, so a rebuild's
    swap (which takes it exclusively) never drops what the command writes."""
    await conn.execute("SELECT pg_advisory_xact_lock_shared($1)", lock_key("caseload"))


async def lock_caseload(conn: asyncpg.Connection, staff_member_id: str, *, schema: str = LIVE) -> asyncpg.Record:
    await conn.execute(f"INSERT INTO {schema}.caseloads (staff_member_id) VALUES ($1) ON CONFLICT DO NOTHING",
                       staff_member_id)
    return await conn.fetchrow(f"SELECT * FROM {schema}.caseloads WHERE staff_member_id = $1 FOR UPDATE",
                               staff_member_id)


async def active_cases(conn: asyncpg.Connection, staff_member_id: str, *, schema: str = LIVE) -> int:
    return await conn.fetchval(
        f"SELECT count(*) FROM {schema}.caseload_cases WHERE staff_member_id = $1 AND status = 'open'",
        staff_member_id)


async def set_announced(conn: asyncpg.Connection, staff_member_id: str, over: bool, *, schema: str) -> None:
    """What a limit event announced (a rebuild reads the policy's own events back)."""
    await conn.execute(
        f"INSERT INTO {schema}.caseloads (staff_member_id, over_limit) VALUES ($1, $2) "
        "ON CONFLICT (staff_member_id) DO UPDATE SET over_limit = excluded.over_limit", staff_member_id, over)


async def save_caseload(conn: asyncpg.Connection, staff_member_id: str, active: int, share: Decimal, share_on: date,
                        limit: int, over: bool, *, schema: str = LIVE) -> None:
    await conn.execute(
        f"""UPDATE {schema}.caseloads SET active_cases = $2, vza_share = $3, vza_share_on = $4, case_limit = $5,
           over_limit = $6, updated_at = now()
           WHERE staff_member_id = $1""", staff_member_id, active, share, share_on, limit, over)


async def stream_version(conn: asyncpg.Connection, stream_id: str) -> int:
    return await conn.fetchval("SELECT version FROM streams WHERE stream_id = $1", stream_id) or 0


async def caseloads(conn: asyncpg.Connection, staff_member_id: str | None = None) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""SELECT * FROM {LIVE}.caseloads WHERE $1::text IS NULL OR staff_member_id = $1 ORDER BY staff_member_id""",
        staff_member_id)


async def active_by_municipality(conn: asyncpg.Connection) -> dict[str, int]:
    rows = await conn.fetch(
        f"SELECT municipality, count(*) AS n FROM {LIVE}.caseload_cases WHERE status = 'open' GROUP BY municipality")
    return {r["municipality"]: r["n"] for r in rows}
