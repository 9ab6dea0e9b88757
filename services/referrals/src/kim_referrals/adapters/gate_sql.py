"""SQL of the consent gate's tables (fed from kim.cases). Rows are locked FOR SHARE by a referral request and
updated by the cases consumer, so a request and a withdrawal of the same consent never interleave."""

from __future__ import annotations

from datetime import date, datetime

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


async def set_languages(conn: asyncpg.Connection, client_id: str, languages: list[str]) -> None:
    await conn.execute(
        "INSERT INTO gate_clients (client_id, languages) VALUES ($1, $2) "
        "ON CONFLICT (client_id) DO UPDATE SET languages = excluded.languages", client_id, languages,
    )


async def lock_case(conn: asyncpg.Connection, case_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM gate_cases WHERE case_id = $1 FOR SHARE", case_id)


async def client_facts(conn: asyncpg.Connection, case: asyncpg.Record) -> ClientFacts:
    languages = await conn.fetchval("SELECT languages FROM gate_clients WHERE client_id = $1", case["client_id"])
    return ClientFacts(case["residence_status"], case["rechtskreis"], tuple(languages or ()))


async def add_consent(conn: asyncpg.Connection, consent: Consent, granted_on: date) -> None:
    await conn.execute(
        "INSERT INTO gate_consents (consent_id, case_id, recipients, purposes, data_categories, valid_until, "
        "granted_on) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (consent_id) DO NOTHING",
        consent.consent_id, consent.case_id, sorted(consent.recipients), sorted(consent.purposes),
        sorted(consent.data_categories), consent.valid_until, granted_on,
    )


async def save_consent(conn: asyncpg.Connection, consent: Consent, withdrawn_at: datetime | None) -> None:
    await conn.execute(
        "UPDATE gate_consents SET recipients = $2, data_categories = $3, "
        "withdrawn_at = coalesce(withdrawn_at, $4) WHERE consent_id = $1",
        consent.consent_id, sorted(consent.recipients), sorted(consent.data_categories),
        withdrawn_at if consent.withdrawn else None,
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
        valid_until=r["valid_until"], withdrawn=r["withdrawn_at"] is not None,
    )


async def consent_rows(conn: asyncpg.Connection, case_id: str) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM gate_consents WHERE case_id = $1 ORDER BY granted_on, consent_id", case_id)


async def municipality_of(conn: asyncpg.Connection, case_id: str) -> str | None:
    return await conn.fetchval("SELECT municipality FROM gate_cases WHERE case_id = $1", case_id)
