"""A referral's partner stream: what one partner was told about one referral, under that partner's own ids.

Its stream id is the partner's id of the referral, which is also the record key on kim.partner.<org> and the id in
the partner API; its versions are the partner's (1 = the offer, then 2, 3, ...: ce_streamversion and the ETag).
Which referral and case the stream belongs to is an unpublished link (PartnerViewOpened) in a stream of its own,
`link-<partner's id>`, kept in this service's store only (no outbox row), so `kim audit case` finds what was shared
with whom while no topic carries the link. (Streams opened before contract 2.0.0 hold that link as their version 1,
so their partner versions count on from 2.) The partner events go out through the same outbox and relay as
everything else, in the transaction of the referral events they reflect: nothing is lost while Kafka is down, and
the stream's hash chain proves what the partner was told and when. Their ce_time is cut to the second like their
data's times.

Every snapshot is sealed under the referral's own key before it is stored (referral_keys.py), so the store and the
topic hold the same sealed record; the revocation notice deletes the key in the same transaction (crypto-shredding).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
from kim_runtime.commands import CommandContext
from kim_runtime.envelope import Envelope
from kim_runtime.store import EventStore
from kim_runtime.topics import partner_topic
from kim_schemas.base import Event
from kim_schemas.partner import PartnerReferralRevoked, PartnerReferralSnapshot

from .events import SERVICE_ACTOR, SOURCE
from .partner_ids import PartnerIds
from .referral_keys import PartnerKeys, seal

LINK = "kim.referrals.PartnerViewOpened"
DEFAULT_SCHEMA_BASE = "http://127.0.0.1:8003"  # KIM_REFERRALS_PUBLIC_URL


@dataclass(frozen=True)
class PartnerStream:
    ids: PartnerIds
    referral_id: str  # the partner's id of the referral: stream id and record key
    version: int  # 0 while the partner has been told nothing


def partner_context(ids: PartnerIds, ctx: CommandContext) -> CommandContext:
    """The metadata of a partner event: the service as actor, correlation and causation derived for the partner, and
    no municipality (ce_municipality): the partner does not need it to work the referral, and two partners named in
    one consent could use it to narrow down which of their pseudonyms are the same person."""
    return CommandContext(actor=SERVICE_ACTOR, correlation_id=ids.correlation(ctx.correlation_id),
                          causation_id=ids.causation(ctx.causation_id))


def schema_url(base: str, event: Event) -> str:
    """ce_dataschema: where the partner API serves this event's versioned JSON Schema."""
    return f"{base.rstrip('/')}/partner/schemas/{event.event_type}/{event.schema_version}"


async def append(store: EventStore, conn: asyncpg.Connection, stream: PartnerStream, events: Sequence[Event],
                 ctx: CommandContext, *, internal_referral_id: str, case_id: str, pseudonym: str, keys: PartnerKeys,
                 schema_base: str = DEFAULT_SCHEMA_BASE) -> int:
    """Append the partner's events (opening the stream first if needed), each snapshot sealed under the referral's
    key; a revocation notice destroys the key in this transaction. Returns the stream's new version."""
    if not events:
        return stream.version
    times, at = [], None
    for e in events:
        at = _time_of(e) or at
        times.append(at)
    if any(isinstance(e, PartnerReferralSnapshot) for e in events):
        key = await keys.ensure(conn, stream.referral_id, stream.ids.organisation_id)
        events = [seal(e, key) if isinstance(e, PartnerReferralSnapshot) else e for e in events]
    version = stream.version
    if version == 0:
        link = Envelope(type=LINK, source=SOURCE, stream_id=link_stream(stream.referral_id), actor=ctx.actor,
                        correlation_id=ctx.correlation_id, causation_id=ctx.causation_id,
                        municipality=ctx.municipality,
                        data={"referral_id": internal_referral_id, "case_id": case_id,
                              "organisation_id": stream.ids.organisation_id,
                              "partner_referral_id": stream.referral_id})
        await store.routed(None).append(link.stream_id, [link], 0, conn=conn)
    to_partner = store.routed(partner_topic(stream.ids.organisation_id))
    pctx = partner_context(stream.ids, ctx)
    # no ce_subject: the pseudonym is inside the sealed snapshot only, so no record left after the key is gone names it
    envs = [pctx.wrap(e, source=SOURCE, subject=None).model_copy(
        update={"time": at, "dataschema": schema_url(schema_base, e)}) for e, at in zip(events, times, strict=True)]
    await to_partner.append(stream.referral_id, envs, version, conn=conn)
    if any(isinstance(e, PartnerReferralRevoked) for e in events):
        await keys.destroy(conn, stream.referral_id)
        await keys.forget_feedback(conn, stream.referral_id)  # the partner's words about it go too
    return version + len(events)


def link_stream(partner_referral_id: str) -> str:
    return f"link-{partner_referral_id}"


def _time_of(event: Event):
    """ce_time of a partner event: its own time (already whole seconds); a tombstone takes its notice's."""
    for field in ("changed_at", "revoked_at"):
        if hasattr(event, field):
            return getattr(event, field)
    return None

