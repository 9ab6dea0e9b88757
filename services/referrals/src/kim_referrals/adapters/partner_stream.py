"""A referral's partner stream: what one partner was told about one referral, under that partner's own ids.

Its stream id is the partner's id of the referral, which is also the record key on kim.partner.<org> and the id in
the partner API. Version 1 is an unpublished link (PartnerViewOpened: which referral and case the stream belongs
to), kept in this service's store only (no outbox row), so `kim audit case` finds what was shared with whom while
no topic carries the link. The partner events follow from version 2 and go out through the same outbox and relay
as everything else, in the transaction of the referral events they reflect: nothing is lost while Kafka is down,
and the stream's hash chain proves what the partner was told and when.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
from kim_runtime.envelope import Envelope
from kim_runtime.store import EventStore
from kim_runtime.topics import partner_topic
from kim_schemas.base import Event

from .events import SERVICE_ACTOR, SOURCE, Context, envelope
from .partner_ids import PartnerIds

LINK = "kim.referrals.PartnerViewOpened"


@dataclass(frozen=True)
class PartnerStream:
    ids: PartnerIds
    referral_id: str  # the partner's id of the referral: stream id and record key
    version: int  # 0 while the partner has been told nothing


def partner_context(ids: PartnerIds, ctx: Context) -> Context:
    """The metadata of a partner event: the service as actor, correlation and causation derived for the partner."""
    return Context(actor=SERVICE_ACTOR, correlation_id=ids.correlation(ctx.correlation_id),
                   causation_id=ids.causation(ctx.causation_id), municipality=ctx.municipality)


async def append(pool: asyncpg.Pool | None, conn: asyncpg.Connection, stream: PartnerStream, events: Sequence[Event],
                 ctx: Context, *, internal_referral_id: str, case_id: str, pseudonym: str) -> int:
    """Append the partner's events (opening the stream first if needed); returns the stream's new version."""
    if not events:
        return stream.version
    version = stream.version
    if version == 0:
        link = Envelope(type=LINK, source=SOURCE, stream_id=stream.referral_id, actor=ctx.actor,
                        correlation_id=ctx.correlation_id, causation_id=ctx.causation_id,
                        municipality=ctx.municipality,
                        data={"referral_id": internal_referral_id, "case_id": case_id,
                              "organisation_id": stream.ids.organisation_id,
                              "partner_referral_id": stream.referral_id})
        await EventStore(pool, None).append(stream.referral_id, [link], 0, conn=conn)
        version = 1
    to_partner = EventStore(pool, partner_topic(stream.ids.organisation_id))
    pctx = partner_context(stream.ids, ctx)
    await to_partner.append(stream.referral_id, [envelope(e, pctx, subject=pseudonym) for e in events], version,
                            conn=conn)
    return version + len(events)
