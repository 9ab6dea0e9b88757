"""Loading and saving referrals: the referral's events, its partner's view, and its read-model row in one go.

Design of the partner streams: the partner-facing events (kim.partner.*) are appended to the referral's own
stream, through an EventStore whose topic is the partner's topic, in the same transaction as the referral events.
So one outbox and one relay carry both: a partner sees a change exactly when it commits, nothing is lost while
Kafka is down, the Kafka key is the referral id on both topics (as the contract says), and the stream's hash chain
also proves what was shared with whom and when. The aggregate ignores the kim.partner.* events when it rebuilds;
the stream version (the ETag) counts them, so versions on kim.referrals may skip numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
from kim_runtime.store import EventStore
from kim_runtime.topics import partner_topic
from kim_schemas import parse
from kim_schemas.base import Event

from ..domain.referral import Referral
from . import referral_sql
from .events import SERVICE_ACTOR, Context, envelope

REFERRAL_EVENTS = "kim.referrals."


@dataclass
class Loaded:
    referral: Referral
    version: int
    client_id: str | None
    pseudonym: str


class ReferralRepository:
    def __init__(self, store: EventStore):
        self.store = store

    async def load(self, conn: asyncpg.Connection, referral_id: str) -> Loaded | None:
        row = await referral_sql.referral(conn, referral_id)
        if row is None:
            return None
        stream = await self.store.read_stream(referral_id, conn=conn)
        events = [parse(e.type, e.schema_version, e.data) for e in stream if e.type.startswith(REFERRAL_EVENTS)]
        client_id = next((e.subject for e in stream if e.type.startswith(REFERRAL_EVENTS)), None)
        return Loaded(Referral.from_history(referral_id, events), stream[-1].stream_version, client_id,
                      row["client_pseudonym"])

    async def append(
        self, conn: asyncpg.Connection, referral: Referral, events: Sequence[Event], partner_events: Sequence[Event],
        *, expected_version: int, ctx: Context, client_id: str | None, pseudonym: str,
    ) -> int:
        """Append the referral's events (kim.referrals) and then its partner's view (kim.partner.<org>)."""
        if not events:
            return expected_version
        await self.store.append(
            referral.referral_id, [envelope(e, ctx, subject=client_id) for e in events], expected_version, conn=conn
        )
        version = expected_version + len(events)
        if partner_events:
            to_partner = EventStore(self.store.pool, partner_topic(referral.to_organisation_id))
            await to_partner.append(
                referral.referral_id,
                [envelope(e, ctx, subject=pseudonym, actor=SERVICE_ACTOR) for e in partner_events],
                version, conn=conn,
            )
            version += len(partner_events)
        return version
