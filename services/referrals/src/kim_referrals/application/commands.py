"""Command handlers: load, decide, append (with the expected version) and update the read model, in one transaction."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import asyncpg
from kim_runtime.envelope import utcnow
from kim_runtime.errors import ConcurrencyConflict, NotFound, RuleViolation
from kim_runtime.store import EventStore
from kim_schemas.base import Event
from kim_schemas.codes import ConsentPurpose, DataCategory
from kim_schemas.referrals import PartnerRegistered, ReferralRequested

from ..adapters import gate_sql, referral_sql
from ..adapters.events import Context, envelope
from ..adapters.pseudonyms import client_pseudonym
from ..adapters.repository import ReferralRepository
from ..domain import partner, partner_view
from ..domain.consent import choose_consent
from ..domain.referral import Referral


@dataclass(frozen=True)
class RequestReferral:
    case_id: str
    to_organisation_id: str
    purpose: ConsentPurpose
    data_categories: list[DataCategory]
    consent_id: str | None = None
    due_on: date | None = None


Decision = Callable[[Referral, datetime], list[Event]]


class ReferralCommands:
    def __init__(self, pool: asyncpg.Pool, store: EventStore, *, pseudonym_secret: str,
                 clock: Callable[[], datetime] = utcnow):
        self.pool, self.store, self.clock = pool, store, clock
        self.repo = ReferralRepository(store)
        self.pseudonym_secret = pseudonym_secret

    async def register_partner(self, registered: PartnerRegistered, ctx: Context) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            known = await referral_sql.partner(conn, registered.organisation_id) is not None
            events = partner.register(known, registered)
            envs = [envelope(e, ctx, subject=None) for e in events]
            await self.store.append(registered.organisation_id, envs, 0, conn=conn)
            await referral_sql.add_partner(conn, registered)
            return len(envs)

    async def request(self, cmd: RequestReferral, ctx: Context) -> tuple[str, int]:
        """Refer a case's client to a partner, if a consent covers it (ConsentMissing names what does not)."""
        async with self.pool.acquire() as conn, conn.transaction():
            case = await gate_sql.lock_case(conn, cmd.case_id)
            if case is None:
                raise NotFound(f"case {cmd.case_id} is not known to the referrals service (no CaseOpened seen yet); "
                               "check the id, or retry in a moment if the case was just opened")
            if case["closed_on"] is not None:
                raise _closed(cmd.case_id, case["closed_on"])
            if await referral_sql.partner(conn, cmd.to_organisation_id) is None:
                raise NotFound(f"partner organisation {cmd.to_organisation_id} is not registered; "
                               "register it first (POST /partners)")
            now = self.clock()
            consent = choose_consent(
                await gate_sql.consents_of_case(conn, cmd.case_id, lock=True), case_id=cmd.case_id,
                recipient=cmd.to_organisation_id, purpose=cmd.purpose, categories=cmd.data_categories,
                today=now.date(), consent_id=cmd.consent_id,
            )
            requested = ReferralRequested(
                referral_id=str(uuid.uuid4()), case_id=cmd.case_id,
                from_organisation_id=case["team_organisation_id"], to_organisation_id=cmd.to_organisation_id,
                purpose=cmd.purpose, data_categories=cmd.data_categories, consent_id=consent.consent_id,
                due_on=cmd.due_on, requested_at=now,
            )
            referral, events = Referral.request(requested)
            pseudonym = client_pseudonym(self.pseudonym_secret, case["client_id"], cmd.to_organisation_id)
            offer = partner_view.offered(requested, pseudonym=pseudonym, facts=await gate_sql.client_facts(conn, case),
                                         consent_valid_until=consent.valid_until)
            ctx = _with_municipality(ctx, case["municipality"])
            version = await self.repo.append(conn, referral, events, [offer], expected_version=0, ctx=ctx,
                                             client_id=case["client_id"], pseudonym=pseudonym)
            await referral_sql.add_referral(conn, referral, pseudonym=pseudonym, requested_at=now, version=version)
            return referral.referral_id, version

    async def decide(self, referral_id: str, decision: Decision, ctx: Context, *, expected_version: int | None,
                     organisation_id: str | None = None, conn: asyncpg.Connection | None = None) -> int:
        """Apply one decision to a referral. A partner (organisation_id set) only reaches its own referrals."""
        if conn is None:
            async with self.pool.acquire() as c, c.transaction():
                return await self.decide(referral_id, decision, ctx, expected_version=expected_version,
                                         organisation_id=organisation_id, conn=c)
        loaded = await self.repo.load(conn, referral_id)
        if loaded is None or (organisation_id is not None and loaded.referral.to_organisation_id != organisation_id):
            raise NotFound(f"referral {referral_id} does not exist")
        if expected_version is not None and expected_version != loaded.version:
            raise ConcurrencyConflict(referral_id, expected_version, loaded.version)
        events = decision(loaded.referral, self.clock())
        ctx = _with_municipality(ctx, await gate_sql.municipality_of(conn, loaded.referral.case_id))
        return await self._save(conn, loaded.referral, events, loaded.version, ctx, loaded.client_id, loaded.pseudonym)

    async def _save(self, conn, referral: Referral, events: Sequence[Event], version: int, ctx: Context,
                    client_id: str | None, pseudonym: str) -> int:
        to_partner = partner_view.updates(referral.to_organisation_id, events)
        version = await self.repo.append(conn, referral, events, to_partner, expected_version=version, ctx=ctx,
                                         client_id=client_id, pseudonym=pseudonym)
        await referral_sql.update_referral(conn, referral, version)
        return version


def _with_municipality(ctx: Context, municipality: str | None) -> Context:
    return Context(ctx.actor, ctx.correlation_id, ctx.causation_id, municipality or ctx.municipality)


def _closed(case_id: str, closed_on: date) -> RuleViolation:
    return RuleViolation(f"case {case_id} was closed on {closed_on.isoformat()}: a closed case takes no referrals")
