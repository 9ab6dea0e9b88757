"""SQL of the read models of the service's own streams: partners and referrals."""

from __future__ import annotations

from datetime import datetime

import asyncpg
from kim_schemas.referrals import PartnerCredentialIssued, PartnerRegistered

from ..domain.referral import Referral
from . import gate_sql
from .partner_stream import PartnerStream


async def partner(conn: asyncpg.Connection, organisation_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM partners WHERE organisation_id = $1", organisation_id)


async def partners(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM partners ORDER BY organisation_id")


async def partner_credential(conn: asyncpg.Connection, organisation_id: str) -> str | None:
    """The id of the partner's current API credential (its newest kim.referrals.PartnerCredentialIssued), if any."""
    return await conn.fetchval(
        "SELECT data->>'credential_id' FROM events WHERE stream_id = $1 AND type = $2 ORDER BY version DESC LIMIT 1",
        organisation_id, PartnerCredentialIssued.event_type)


async def add_partner(conn: asyncpg.Connection, p: PartnerRegistered) -> None:
    await conn.execute(
        "INSERT INTO partners (organisation_id, name, kind, public_body, municipality) VALUES ($1, $2, $3, $4, $5)",
        p.organisation_id, p.name, p.kind.value, p.public_body, p.municipality,
    )


async def add_referral(conn: asyncpg.Connection, r: Referral, *, pseudonym: str, requested_at: datetime,
                       version: int, partner: PartnerStream) -> None:
    await conn.execute(
        "INSERT INTO referrals (referral_id, case_id, to_organisation_id, consent_id, client_pseudonym, purpose, "
        "data_categories, state, due_on, version, requested_at, partner_referral_id, partner_version) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        r.referral_id, r.case_id, r.to_organisation_id, r.consent_id, pseudonym, r.purpose.value,
        [c.value for c in r.data_categories], r.state.value, r.due_on, version, requested_at,
        partner.referral_id, partner.version,
    )


async def update_referral(conn: asyncpg.Connection, r: Referral, version: int, partner: PartnerStream) -> None:
    await conn.execute(
        "UPDATE referrals SET state = $2, appointment_on = $3, outcome = $4, decline_reason = $5, "
        "revocation_reason = $6, version = $7, partner_referral_id = $8, partner_version = $9, updated_at = now() "
        "WHERE referral_id = $1",
        r.referral_id, r.state.value, r.appointment_on, _v(r.outcome), _v(r.decline_reason),
        _v(r.revocation_reason), version, partner.referral_id, partner.version,
    )


def _v(code) -> str | None:
    return code.value if code is not None else None


async def referral(conn: asyncpg.Connection, referral_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM referrals WHERE referral_id = $1", referral_id)


async def referral_of_partner(conn: asyncpg.Connection, organisation_id: str,
                              partner_referral_id: str) -> asyncpg.Record | None:
    """A referral by the id its partner knows it by (None for another partner's or an unknown id)."""
    return await conn.fetchrow("SELECT * FROM referrals WHERE partner_referral_id = $1 AND to_organisation_id = $2",
                               partner_referral_id, organisation_id)


async def referrals_of_partner(conn: asyncpg.Connection, organisation_id: str) -> list[asyncpg.Record]:
    """A partner's referrals (those from before per-partner ids, which have none stored, stay out of its sight)."""
    return await conn.fetch(
        "SELECT * FROM referrals WHERE to_organisation_id = $1 AND partner_referral_id IS NOT NULL "
        "ORDER BY requested_at, referral_id", organisation_id
    )


async def referrals_of_case(conn: asyncpg.Connection, case_id: str) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM referrals WHERE case_id = $1 ORDER BY requested_at, referral_id", case_id)


async def open_referral_ids(conn: asyncpg.Connection, *, case_id: str | None = None,
                            consent_id: str | None = None, client_id: str | None = None) -> list[str]:
    """Open referrals of a case, resting on a consent, or of any case of a client."""
    if client_id is not None:
        where = f"case_id IN (SELECT case_id FROM {gate_sql.CASES} WHERE client_id = $1)"
        value = client_id
    else:
        column, value = ("case_id", case_id) if case_id is not None else ("consent_id", consent_id)
        where = f"{column} = $1"
    rows = await conn.fetch(
        f"SELECT referral_id FROM referrals WHERE {where} AND state NOT IN ('closed', 'revoked') "
        "ORDER BY referral_id", value,
    )
    return [r["referral_id"] for r in rows]
