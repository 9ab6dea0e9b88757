"""Loading and saving referrals: the referral's events, its partner's view, and its read-model row in one go.

The referral's own stream (id = referral id) holds the kim.referrals events, loaded and appended through the
runtime's Repository (kim_runtime.commands) inside the command's UnitOfWork (or the consumer's transaction). What its
partner is told lives in a stream of its own under the partner's ids (see partner_stream.py), appended in the same
transaction, so a partner sees a change exactly when it commits. The stream's version is the staff side's ETag; the
partner stream's version is the partner API's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kim_runtime.commands import CommandContext, Repository, UnitOfWork, connection
from kim_runtime.envelope import Envelope
from kim_runtime.store import EventStore
from kim_schemas import parse, partner
from kim_schemas.base import Event
from kim_schemas.partner import PartnerReferralSealedSnapshot

from ..domain.partner_view import Shown, fold
from ..domain.referral import EVENTS, Referral
from . import partner_stream, referral_sql
from .events import SOURCE
from .partner_ids import PartnerIds
from .partner_stream import PartnerStream
from .referral_keys import PartnerKeys, ReferralKey, open_snapshot

PARTNER_EVENT_TYPES = frozenset(m.event_type for m in vars(partner).values()
                                if isinstance(m, type) and issubclass(m, Event) and hasattr(m, "event_type")
                                and m.service() == "partner")


def partner_events(stream: Sequence[Envelope], key: ReferralKey | None) -> list[tuple[int, Event]]:
    """(version, event) of a partner stream's published events (an old stream's link at version 1 is skipped), each
    sealed snapshot opened with the referral's key; without the key (revoked: destroyed) sealed snapshots are left
    out, the revocation notice is not sealed."""
    out = []
    for e in stream:
        if e.type not in PARTNER_EVENT_TYPES:
            continue
        event = parse(e.type, e.schema_version, e.data)
        if isinstance(event, PartnerReferralSealedSnapshot):
            if key is None:
                continue
            event = open_snapshot(event, key)
        out.append((e.stream_version, event))
    return out


@dataclass
class Loaded:
    referral: Referral
    version: int
    client_id: str | None
    pseudonym: str
    partner: PartnerStream
    shown: Shown  # what the partner was last told


class ReferralRepository:
    """`uow`: the command's UnitOfWork, or the connection of a transaction the caller holds (the kim.cases
    consumer's, the scheduler's)."""

    def __init__(self, store: EventStore, pseudonym_secret: str, schema_base: str = partner_stream.DEFAULT_SCHEMA_BASE,
                 *, tables=referral_sql, keys: PartnerKeys):
        self.store, self.tables, self.keys = store, tables, keys
        self.referrals = Repository(store, Referral, source=SOURCE, kinds=EVENTS, skip_others=True)
        self.pseudonym_secret = pseudonym_secret
        self.schema_base = schema_base  # the partner API's address: ce_dataschema of partner events

    def partner_ids(self, organisation_id: str) -> PartnerIds:
        return PartnerIds(self.pseudonym_secret, organisation_id)

    async def load(self, uow: UnitOfWork | Any, referral_id: str) -> Loaded | None:
        conn = connection(uow)
        row = await self.tables.referral(conn, referral_id)
        if row is None:
            return None
        referral, mine = await self.referrals.load_with_envelopes(referral_id, uow)
        ids = self.partner_ids(row["to_organisation_id"])
        # rows from before per-partner ids have none stored: the derivation gives the same id every time
        partner = PartnerStream(ids, row["partner_referral_id"] or ids.referral(referral_id), row["partner_version"])
        return Loaded(referral, referral.version, mine[0].subject if mine else None, row["client_pseudonym"], partner,
                      await self.shown(conn, partner.referral_id))

    async def shown(self, uow: UnitOfWork | Any, partner_referral_id: str) -> Shown:
        """The partner's current view of one referral, from its partner stream."""
        conn = connection(uow)
        key = (await self.keys.of(conn, [partner_referral_id])).get(partner_referral_id)
        return fold(partner_events(await self.store.read_stream(partner_referral_id, conn=conn), key))

    async def append(
        self, uow: UnitOfWork | Any, referral: Referral, events: Sequence[Event], partner_events: Sequence[Event],
        *, expected_version: int, ctx: CommandContext, client_id: str | None, pseudonym: str, partner: PartnerStream,
    ) -> tuple[int, int]:
        """Append the referral's events (kim.referrals), then its partner's view; returns both new versions."""
        if not events:
            return expected_version, partner.version
        await self.referrals.append(referral.referral_id, expected_version, events, ctx, uow=uow, subject=client_id)
        partner_version = await partner_stream.append(
            self.store, connection(uow), partner, partner_events, ctx, internal_referral_id=referral.referral_id,
            case_id=referral.case_id, pseudonym=pseudonym, keys=self.keys, schema_base=self.schema_base,
        )
        return expected_version + len(events), partner_version
