"""SQL of the consent gate's tables (fed from kim.cases: cases, clients, and per consent its scope and what was
withdrawn, never its dates: the cases service decides on those). Rows are locked FOR SHARE by a referral request and
FOR UPDATE by the cases consumer, so a request and a withdrawal of the same consent never interleave.

They are the `consent_gate` projection's (application/cases_events.py: ConsentGate, a kim_runtime ProcessManager),
in its own PostgreSQL schema, so `kim replay consent_gate` rebuilds them into a fresh schema and swaps it in. The
consumer writes with `schema` (the live one, or a rebuild's); everything else reads and locks the live tables."""

from __future__ import annotations

from datetime import datetime

import asyncpg
from kim_runtime.projection import lock_key

from ..domain.consent import Withdrawals
from ..domain.partner_view import ClientFacts

LIVE = '"consent_gate"'  # the projection's schema (its name)
CASES, CLIENTS, CONSENTS = f"{LIVE}.gate_cases", f"{LIVE}.gate_clients", f"{LIVE}.gate_consents"


async def hold_live(conn: asyncpg.Connection) -> None:
    """A referral request locks the gate's live rows; it takes the projection's lock (shared) first, as the consumer
    does, so a rebuild's swap (exclusive) waits for it and never changes the tables under it."""
    await conn.execute("SELECT pg_advisory_xact_lock_shared($1)", lock_key("consent_gate"))


async def upsert_case(conn: asyncpg.Connection, case_id: str, *, schema: str = LIVE, **fields) -> None:
    cols = ", ".join(fields)
    params = ", ".join(f"${i}" for i in range(2, len(fields) + 2))
    updates = ", ".join(f"{c} = excluded.{c}" for c in fields)
    await conn.execute(
        f"INSERT INTO {schema}.gate_cases (case_id, {cols}) VALUES ($1, {params}) "
        f"ON CONFLICT (case_id) DO UPDATE SET {updates}",
        case_id, *fields.values(),
    )


async def lock_case(conn: asyncpg.Connection, case_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT * FROM {CASES} WHERE case_id = $1 FOR SHARE", case_id)


async def client_facts(conn: asyncpg.Connection, case: asyncpg.Record) -> ClientFacts:
    languages = await conn.fetchval(f"SELECT languages FROM {CLIENTS} WHERE client_id = $1", case["client_id"])
    return ClientFacts(case["residence_status"], case["rechtskreis"], tuple(languages or ()))


async def add_consent(conn: asyncpg.Connection, consent_id: str, case_id: str, *, recipients: list[str],
                      purposes: list[str], data_categories: list[str], schema: str = LIVE) -> None:
    """A consent's scope as granted (no dates: the cases service decides on them). A request may have made the
    row first (it locks the consent it rests on before kim.cases told us of it)."""
    await conn.execute(
        f"INSERT INTO {schema}.gate_consents (consent_id, case_id, recipients, purposes, data_categories) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (consent_id) DO UPDATE SET recipients = excluded.recipients, "
        "purposes = excluded.purposes, data_categories = excluded.data_categories",
        consent_id, case_id, sorted(recipients), sorted(purposes), sorted(data_categories),
    )


async def lock_consent(conn: asyncpg.Connection, consent_id: str, case_id: str, *,
                       exclusive: bool, schema: str = LIVE) -> Withdrawals:
    """The consent's row, made if kim.cases has not told us of it yet, locked FOR SHARE by a referral request and FOR
    UPDATE by a withdrawal or an expiry: whichever comes second waits, so a request either sees the withdrawal or
    commits its referral before the withdrawal is handled (which then revokes it)."""
    await conn.execute(f"INSERT INTO {schema}.gate_consents (consent_id, case_id) VALUES ($1, $2) "
                       "ON CONFLICT DO NOTHING", consent_id, case_id)
    row = await conn.fetchrow(
        f"SELECT * FROM {schema}.gate_consents WHERE consent_id = $1 FOR {'UPDATE' if exclusive else 'SHARE'}",
        consent_id)
    return Withdrawals(withdrawn=row["withdrawn_at"] is not None, expired=row["expired_at"] is not None,
                       recipients=frozenset(row["withdrawn_recipients"]),
                       categories=frozenset(row["withdrawn_categories"]))


async def save_withdrawal(conn: asyncpg.Connection, consent_id: str, withdrawals: Withdrawals,
                          withdrawn_at: datetime, *, schema: str = LIVE) -> None:
    """What was granted stays as granted; what was withdrawn is kept beside it, so a refusal can say which."""
    await conn.execute(
        f"UPDATE {schema}.gate_consents SET withdrawn_recipients = $2, withdrawn_categories = $3, "
        "withdrawn_at = CASE WHEN $4 THEN coalesce(withdrawn_at, $5) END WHERE consent_id = $1",
        consent_id, sorted(withdrawals.recipients), sorted(withdrawals.categories), withdrawals.withdrawn,
        withdrawn_at,
    )


async def save_expiry(conn: asyncpg.Connection, consent_id: str, expired_at: datetime, *, schema: str = LIVE) -> None:
    await conn.execute(f"UPDATE {schema}.gate_consents SET expired_at = coalesce(expired_at, $2) "
                       "WHERE consent_id = $1", consent_id, expired_at)


async def consent_rows(conn: asyncpg.Connection, case_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(f"SELECT * FROM {CONSENTS} WHERE case_id = $1 ORDER BY consent_id", case_id)


async def municipality_of(conn: asyncpg.Connection, case_id: str) -> str | None:
    return await conn.fetchval(f"SELECT municipality FROM {CASES} WHERE case_id = $1", case_id)


async def ensure_client(conn: asyncpg.Connection, client_id: str, *, schema: str = LIVE) -> None:
    """A row per client of a known case, so a request and an erasure always meet on the same row lock."""
    await conn.execute(f"INSERT INTO {schema}.gate_clients (client_id) VALUES ($1) ON CONFLICT DO NOTHING", client_id)


async def set_case_facts(conn: asyncpg.Connection, case_id: str, *, schema: str = LIVE, **facts) -> None:
    """Residence status or Rechtskreis of a case; kept only while its client is not erased."""
    sets = ", ".join(f"{column} = ${i}" for i, column in enumerate(facts, start=2))
    await conn.execute(
        f"UPDATE {schema}.gate_cases AS c SET {sets} WHERE case_id = $1 AND NOT EXISTS (SELECT 1 FROM "
        f"{schema}.gate_clients g WHERE g.client_id = c.client_id AND g.erased_at IS NOT NULL)",
        case_id, *facts.values(),
    )


async def erase_client(conn: asyncpg.Connection, client_id: str, erased_at: datetime, *, schema: str = LIVE) -> None:
    """Drop the client's facts and mark them erased. Rows are locked in a request's order (the cases, then the
    client), so a request for them either finishes first (and is revoked after) or waits and sees the erasure."""
    await conn.execute(f"UPDATE {schema}.gate_cases SET residence_status = NULL, rechtskreis = NULL "
                       "WHERE client_id = $1", client_id)
    await conn.execute(
        f"INSERT INTO {schema}.gate_clients AS g (client_id, languages, erased_at) VALUES ($1, '{{}}', $2) "
        "ON CONFLICT (client_id) DO UPDATE SET languages = '{}', erased_at = coalesce(g.erased_at, excluded.erased_at)",
        client_id, erased_at,
    )


async def client_erased_at(conn: asyncpg.Connection, client_id: str) -> datetime | None:
    """When the client was erased (None: not erased); locks their row FOR SHARE against a concurrent erasure."""
    return await conn.fetchval(f"SELECT erased_at FROM {CLIENTS} WHERE client_id = $1 FOR SHARE", client_id)


async def case(conn: asyncpg.Connection, case_id: str) -> asyncpg.Record | None:
    """The case as the gate knows it, unlocked (what a refusal's recorded decision names)."""
    return await conn.fetchrow(f"SELECT client_id, municipality FROM {CASES} WHERE case_id = $1", case_id)
