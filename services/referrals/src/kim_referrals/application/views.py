"""The partner's current view of its referrals, read from the partner streams: what the API answers is exactly what
the newest record of the key on the partner's topic carries; a revoked referral is refused with the reason."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
from kim_runtime.errors import Gone
from kim_runtime.store import row_to_envelope

from ..adapters.referral_keys import PartnerKeys
from ..adapters.repository import partner_events
from ..domain.partner_view import Shown, fold

_SELECT = ("SELECT position, event_id, stream_id, version, type, schema_version, occurred_at, metadata, data "
           "FROM events WHERE stream_id = ANY($1::text[]) AND type LIKE 'kim.partner.%' ORDER BY stream_id, version")


async def shown_many(conn: asyncpg.Connection, keys: PartnerKeys, partner_referral_ids: Sequence[str]) -> list[Shown]:
    """The current view of each of the partner's referrals (in the order given), in one query, each snapshot opened
    with its referral's key (a revoked referral has none: its view is the revocation notice only)."""
    by_stream: dict[str, list] = {i: [] for i in partner_referral_ids}
    for row in await conn.fetch(_SELECT, list(partner_referral_ids)):
        by_stream[row["stream_id"]].append(row_to_envelope(row))
    opened = await keys.of(conn, partner_referral_ids)
    return [fold(partner_events(by_stream[i], opened.get(i))) for i in partner_referral_ids]


def refuse_if_revoked(partner_referral_id: str, row: asyncpg.Record, shown: Shown) -> None:
    """410 Gone with the reason once the referral was revoked: consent withdrawn or expired, case closed, erased."""
    if row["state"] != "revoked" and shown.revoked is None:
        return
    reason = shown.revoked.reason.value if shown.revoked else (row["revocation_reason"] or "sonstiges")
    revoked_at = shown.revoked.revoked_at if shown.revoked else None
    raise Gone(f"referral {partner_referral_id} was revoked ({reason}): delete everything you hold for it",
               reason=reason, referral_id=partner_referral_id, revoked_at=revoked_at, purge=True)
