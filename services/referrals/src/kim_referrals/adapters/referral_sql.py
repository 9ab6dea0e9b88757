"""SQL of the read models of the service's own streams: partners and referrals."""

from __future__ import annotations

from datetime import datetime

import asyncpg
from kim_schemas.referrals import PartnerRegistered

from ..domain.referral import Referral


async def partner(conn: asyncpg.Connection, organisation_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM partners WHERE organisation_id = $1", organisation_id)


async def partners(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM partners ORDER BY organisation_id")


async def add_partner(conn: asyncpg.Connection, p: PartnerRegistered) -> None:
    await conn.execute(
        "INSERT INTO partners (organisation_id, name, kind, public_body, municipality) VALUES ($1, $2, $3, $4, $5)",
        p.organisation_id, p.name, p.kind.value, p.public_body, p.municipality,
    )


async def add_referral(conn: asyncpg.Connection, r: Referral, *, pseudonym: str, requested_at: datetime,
                       version: int) -> None:
    await conn.execute(
        "INSERT INTO referrals (referral_id, case_id, to_organisation_id, consent_id, client_pseudonym, purpose, "
        "data_categories, state, due_on, version, requested_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        r.referral_id, r.case_id, r.to_organisation_id, r.consent_id, pseudonym, r.purpose.value,
        [c.value for c in r.data_categories], r.state.value, r.due_on, version, requested_at,
    )


async def update_referral(conn: asyncpg.Connection, r: Referral, version: int) -> None:
    await conn.execute(
        "UPDATE referrals SET state = $2, appointment_on = $3, outcome = $4, decline_reason = $5, "
        "revocation_reason = $6, version = $7, updated_at = now() WHERE referral_id = $1",
        r.referral_id, r.state.value, r.appointment_on, _v(r.outcome), _v(r.decline_reason),
        _v(r.revocation_reason), version,
    )


def _v(code) -> str | None:
    return code.value if code is not None else None


async def referral(conn: asyncpg.Connection, referral_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM referrals WHERE referral_id = $1", referral_id)


async def referrals_of_partner(conn: asyncpg.Connection, organisation_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM referrals WHERE to_organisation_id = $1 ORDER BY requested_at, referral_id", organisation_id
    )


async def referrals_of_case(conn: asyncpg.Connection, case_id: str) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM referrals WHERE case_id = $1 ORDER BY requested_at, referral_id", case_id)


async def open_referral_ids(conn: asyncpg.Connection, *, case_id: str | None = None,
                            consent_id: str | None = None) -> list[str]:
    column, value = ("case_id", case_id) if case_id is not None else ("consent_id", consent_id)
    rows = await conn.fetch(
        f"SELECT referral_id FROM referrals WHERE {column} = $1 AND state NOT IN ('closed', 'revoked') "
        "ORDER BY referral_id", value,
    )
    return [r["referral_id"] for r in rows]
