"""SQL of the consent gate's tables (fed from kim.cases). Rows are locked FOR SHARE by a referral request and
updated by the cases consumer, so a request and a withdrawal of the same consent never interleave."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from ..domain.consent import Consent
from ..domain.partner_view import ClientFacts


async def upsert_case(conn: asyncpg.Connection, case_id: str, **fields) -> None:
    cols = ", ".join(fields)
    params = ", ".join(f"${i}" for i in range(2, len(fields) + 2))
    updates = ", ".join(f"{c} = excluded.{c}" for c in fields)
    await conn.execute(
        f"INSERT INTO gate_cases (case_id, {cols}) VALUES ($1, {params}) ON CONFLICT (case_id) DO UPDATE SET {updates}",
        case_id, *fields.values(),
    )


async def lock_case(conn: asyncpg.Connection, case_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM gate_cases WHERE case_id = $1 FOR SHARE", case_id)


async def client_facts(conn: asyncpg.Connection, case: asyncpg.Record) -> ClientFacts:
    languages = await conn.fetchval("SELECT languages FROM gate_clients WHERE client_id = $1", case["client_id"])
    return ClientFacts(case["residence_status"], case["rechtskreis"], tuple(languages or ()))


async def add_consent(conn: asyncpg.Connection, consent: Consent) -> None:
    await conn.execute(
        "INSERT INTO gate_consents (consent_id, case_id, recipients, purposes, data_categories, valid_until, "
        "granted_on) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (consent_id) DO NOTHING",
        consent.consent_id, consent.case_id, sorted(consent.recipients), sorted(consent.purposes),
        sorted(consent.data_categories), consent.valid_until, consent.granted_on,
    )


async def save_withdrawal(conn: asyncpg.Connection, consent: Consent, withdrawn_at: datetime) -> None:
    """What was granted stays as granted; what was withdrawn is kept beside it, so a refusal can say which."""
    await conn.execute(
        "UPDATE gate_consents SET withdrawn_recipients = $2, withdrawn_categories = $3, "
        "withdrawn_at = CASE WHEN $4 THEN coalesce(withdrawn_at, $5) END WHERE consent_id = $1",
        consent.consent_id, sorted(consent.withdrawn_recipients), sorted(consent.withdrawn_categories),
        consent.withdrawn, withdrawn_at,
    )


async def consents_of_case(conn: asyncpg.Connection, case_id: str, *, lock: bool = False) -> list[Consent]:
    rows = await conn.fetch(
        f"SELECT * FROM gate_consents WHERE case_id = $1 ORDER BY granted_on, consent_id"
        f"{' FOR SHARE' if lock else ''}", case_id,
    )
    return [_consent(r) for r in rows]


async def lock_consent(conn: asyncpg.Connection, consent_id: str) -> Consent | None:
    row = await conn.fetchrow("SELECT * FROM gate_consents WHERE consent_id = $1 FOR UPDATE", consent_id)
    return _consent(row) if row else None


def _consent(r: asyncpg.Record) -> Consent:
    return Consent(
        consent_id=r["consent_id"], case_id=r["case_id"], recipients=frozenset(r["recipients"]),
        purposes=frozenset(r["purposes"]), data_categories=frozenset(r["data_categories"]),
        granted_on=r["granted_on"], valid_until=r["valid_until"], withdrawn=r["withdrawn_at"] is not None,
        withdrawn_recipients=frozenset(r["withdrawn_recipients"]),
        withdrawn_categories=frozenset(r["withdrawn_categories"]),
    )


async def consent_rows(conn: asyncpg.Connection, case_id: str) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM gate_consents WHERE case_id = $1 ORDER BY granted_on, consent_id", case_id)


async def municipality_of(conn: asyncpg.Connection, case_id: str) -> str | None:
    return await conn.fetchval("SELECT municipality FROM gate_cases WHERE case_id = $1", case_id)


async def ensure_client(conn: asyncpg.Connection, client_id: str) -> None:
    """A row per client of a known case, so a request and an erasure always meet on the same row lock."""
    await conn.execute("INSERT INTO gate_clients (client_id) VALUES ($1) ON CONFLICT DO NOTHING", client_id)


async def set_case_facts(conn: asyncpg.Connection, case_id: str, **facts) -> None:
    """Residence status or Rechtskreis of a case; kept only while its client is not erased."""
    sets = ", ".join(f"{column} = ${i}" for i, column in enumerate(facts, start=2))
    await conn.execute(
        f"UPDATE gate_cases SET {sets} WHERE case_id = $1 AND NOT EXISTS (SELECT 1 FROM gate_clients g "
        "WHERE g.client_id = gate_cases.client_id AND g.erased_at IS NOT NULL)", case_id, *facts.values(),
    )


async def erase_client(conn: asyncpg.Connection, client_id: str, erased_at: datetime) -> None:
    """Drop the client's facts and mark them erased. Rows are locked in a request's order (the cases, then the
    client), so a request for them either finishes first (and is revoked after) or waits and sees the erasure."""
    await conn.execute("UPDATE gate_cases SET residence_status = NULL, rechtskreis = NULL WHERE client_id = $1",
                       client_id)
    await conn.execute(
        "INSERT INTO gate_clients (client_id, languages, erased_at) VALUES ($1, '{}', $2) ON CONFLICT (client_id) "
        "DO UPDATE SET languages = '{}', erased_at = coalesce(gate_clients.erased_at, excluded.erased_at)",
        client_id, erased_at,
    )


async def client_erased_at(conn: asyncpg.Connection, client_id: str) -> datetime | None:
    """When the client was erased (None: not erased); locks their row FOR SHARE against a concurrent erasure."""
    return await conn.fetchval("SELECT erased_at FROM gate_clients WHERE client_id = $1 FOR SHARE", client_id)


async def case(conn: asyncpg.Connection, case_id: str) -> asyncpg.Record | None:
    """The case as the gate knows it, unlocked (what a refusal's recorded decision names)."""
    return await conn.fetchrow("SELECT client_id, municipality FROM gate_cases WHERE case_id = $1", case_id)
