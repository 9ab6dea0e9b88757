"""Command handlers: load, decide, append (with the expected version) and update the read model, in one unit of work
(kim_runtime.commands.UnitOfWork: one transaction with the outbox rows of the appends)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime

import asyncpg
from kim_runtime import idempotency
from kim_runtime.commands import Aggregate, CommandContext, Repository, UnitOfWork, connection
from kim_runtime.envelope import utcnow
from kim_runtime.errors import ConcurrencyConflict, NotFound, check_expected
from kim_runtime.store import EventStore, must_record
from kim_schemas.base import Event
from kim_schemas.codes import ConsentPurpose, DataCategory
from kim_schemas.referrals import PartnerCredentialIssued, PartnerRegistered, ReferralRequested, ReferralRevoked

from ..adapters import gate_sql, referral_sql
from ..adapters.cases_client import CasesClient
from ..adapters.events import SOURCE
from ..adapters.partner_stream import PartnerStream
from ..adapters.referral_keys import PartnerKeys, derived_kek
from ..adapters.repository import Loaded, ReferralRepository
from ..domain import partner, partner_view
from ..domain.consent import ConsentMissing, GateAnswer, decision
from ..domain.partner_view import PartnerRefs
from ..domain.referral import Referral
from . import refusals
from .views import refuse_if_revoked

DEADLOCK_ATTEMPTS = 3  # a referral request's transaction ended by PostgreSQL's deadlock detection is tried again


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
    """The case side's and the partners' commands. `tables` and `gate`: the read model of partners and referrals
    and the consent gate's tables (the SQL adapters referral_sql and gate_sql; service-layer unit tests give
    in-memory ones, tests/unit/referrals/test_handlers.py). `cases`: the cases service, which decides on consents
    (adapters/cases_client.py; unit tests give a stand-in with the same consent_decision)."""

    def __init__(self, store: EventStore, *, pseudonym_secret: str, cases: CasesClient,
                 clock: Callable[[], datetime] = utcnow, schema_base: str | None = None, tables=referral_sql,
                 gate=gate_sql, credential_issued: Callable[[str, str], None] | None = None,
                 partner_keys: PartnerKeys | None = None):
        self.store, self.clock, self.tables, self.gate = store, clock, tables, gate
        self.credential_issued = credential_issued  # told of each new partner credential once it is committed
        self.cases = cases
        # the partner snapshots' per-referral keys; by default under a KEK derived from the pseudonym secret
        self.partner_keys = partner_keys or PartnerKeys(derived_kek(pseudonym_secret))
        self.repo = ReferralRepository(store, pseudonym_secret, *([schema_base] if schema_base else []), tables=tables,
                                       keys=self.partner_keys)
        # the other streams this service appends to: a partner's registry stream, a refused request's decision, a
        # referral's follow-ups (nothing is rebuilt from them here: appended at their version, no aggregate)
        self.records = Repository(store, Aggregate, source=SOURCE)

    async def register_partner(self, registered: PartnerRegistered, ctx: CommandContext) -> int:
        async with UnitOfWork(self.store) as uow:
            known = await self.tables.partner(uow.conn, registered.organisation_id) is not None
            events = partner.register(known, registered)
            await self.records.append(registered.organisation_id, 0, events, ctx, uow=uow)
            await self.tables.add_partner(uow.conn, registered)
            return len(events)

    async def issue_partner_credential(self, issued: PartnerCredentialIssued, ctx: CommandContext) -> None:
        """Record a registered partner's new API credential (the one its tokens must carry from now on)."""
        async with UnitOfWork(self.store) as uow:
            if await self.tables.partner(uow.conn, issued.organisation_id) is None:
                raise NotFound(f"no partner {issued.organisation_id} is registered: register it first "
                               "(POST /partners, or kim partner onboard with --name and --kind)")
            version = await self.store.stream_version(issued.organisation_id, conn=uow.conn)
            await self.records.append(issued.organisation_id, version, [issued], ctx, uow=uow)
        if self.credential_issued is not None:
            self.credential_issued(issued.organisation_id, issued.credential_id)

    async def request(self, cmd: RequestReferral, ctx: CommandContext) -> tuple[str, int]:
        """Refer a case's client to a partner, if a consent covers it (ConsentMissing names what does not).

        The gate's decision is recorded as kim.referrals.ConsentChecked: in the referral's own stream, in the same
        append as ReferralRequested (so a new referral is at version 2), or, when refused, in a stream of its own
        (consent-check-<uuid>) written after the refused request rolled back. If the database fails while that is
        written, nothing is (one transaction) and the request answers 503 with Retry-After (NotRecorded), never the
        refusal: a decision no one can audit is not given."""
        now = self.clock()
        try:
            return await self._request(cmd, ctx, now)
        except ConsentMissing as refused:
            async with must_record("the consent gate's decision on this referral"):  # answered once recorded
                await self._record_refusal(cmd, ctx, now, refused)
            raise

    async def _record_refusal(self, cmd: RequestReferral, ctx: CommandContext, now: datetime,
                              refused: ConsentMissing) -> None:
        request_id = f"consent-check-{uuid.uuid4()}"
        checked = decision(refused.granted, request_id=request_id, referral_id=None, case_id=cmd.case_id,
                           recipient=cmd.to_organisation_id, purpose=cmd.purpose, categories=cmd.data_categories,
                           today=now.date(), reasons=refused.missing, checked_at=now)
        async with UnitOfWork(self.store) as uow:
            case = await self.gate.case(uow.conn, cmd.case_id)
            await self.records.append(request_id, 0, [checked], ctx.in_municipality(case and case["municipality"]),
                                      uow=uow, subject=case["client_id"] if case else None)

    async def _request(self, cmd: RequestReferral, ctx: CommandContext, now: datetime) -> tuple[str, int]:
        # the cases service's decision is asked before any row is locked: the call may take up to its timeout (10 s),
        # and the kim.cases events of this case and client (handled under the same rows' locks) must not wait for it.
        # What the gate refuses on its own (unknown, erased, closed) is answered first, as before, without asking.
        async with self.store.pool.acquire() as conn:
            await refusals.referable_case(conn, cmd.case_id, self.gate)
        answer = await self.cases.consent_decision(
            case_id=cmd.case_id, recipient=cmd.to_organisation_id, purpose=cmd.purpose,
            categories=list(cmd.data_categories), on=now.date(), consent_id=cmd.consent_id,
            correlation_id=ctx.correlation_id)
        for attempt in range(1, DEADLOCK_ATTEMPTS + 1):
            try:
                return await self._request_locked(cmd, ctx, now, answer)
            except asyncpg.DeadlockDetectedError:
                # the cases consumer's batch (one transaction) took the consent's row and then wants the case's,
                # which this request holds; PostgreSQL ended this side: nothing of it was written, so try again
                if attempt == DEADLOCK_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    async def _request_locked(self, cmd: RequestReferral, ctx: CommandContext, now: datetime,
                              answer: GateAnswer) -> tuple[str, int]:
        async with UnitOfWork(self.store) as uow:
            conn = uow.conn
            await self.gate.hold_live(conn)  # the gate's rows it locks stay the live ones until it commits
            case = await refusals.referable_case(conn, cmd.case_id, self.gate)  # again, now under the rows' locks
            if await self.tables.partner(conn, cmd.to_organisation_id) is None:
                raise NotFound(f"partner organisation {cmd.to_organisation_id} is not registered; "
                               "register it first (POST /partners)")
            consent = await self._consent(conn, cmd, answer)
            referral_id = str(uuid.uuid4())
            checked = decision(consent.granted, request_id=referral_id, referral_id=referral_id, case_id=cmd.case_id,
                               recipient=cmd.to_organisation_id, purpose=cmd.purpose, categories=cmd.data_categories,
                               today=now.date(), reasons=[], checked_at=now)
            requested = ReferralRequested(
                referral_id=referral_id, case_id=cmd.case_id,
                from_organisation_id=case["team_organisation_id"], to_organisation_id=cmd.to_organisation_id,
                purpose=cmd.purpose, data_categories=cmd.data_categories, consent_id=consent.consent_id,
                due_on=cmd.due_on, requested_at=now,
            )
            referral, events = Referral.request(requested)
            events = [checked, *events]  # the decision first, in the same append
            ids = self.repo.partner_ids(cmd.to_organisation_id)
            refs = PartnerRefs(ids.referral(referral.referral_id), ids.client(case["client_id"]),
                               ids.consent(consent.consent_id))
            offer = partner_view.offered(requested, refs=refs, facts=await self.gate.client_facts(conn, case))
            ctx = ctx.in_municipality(case["municipality"])
            version, partner_version = await self.repo.append(
                uow, referral, events, [offer], expected_version=0, ctx=ctx, client_id=case["client_id"],
                pseudonym=refs.client_pseudonym, partner=PartnerStream(ids, refs.referral_id, 0))
            await self.tables.add_referral(conn, referral, pseudonym=refs.client_pseudonym, requested_at=now,
                                            version=version,
                                            partner=PartnerStream(ids, refs.referral_id, partner_version))
            return referral.referral_id, version

    async def _consent(self, conn, cmd: RequestReferral, answer: GateAnswer) -> GateAnswer:
        """The cases service's decision (it owns the consents and their dates; asked before the transaction), then
        the consent's row locked FOR SHARE until this request commits. A withdrawal or expiry the cases consumer
        handled after the cases service answered is seen here and refuses; one handled later waits for this commit
        and then revokes the referral."""
        if not answer.met:
            raise ConsentMissing(cmd.case_id, answer.reasons, answer.granted)
        withdrawals = await self.gate.lock_consent(conn, answer.consent_id, cmd.case_id, exclusive=False)
        gaps = withdrawals.gaps(answer.consent_id, cmd.to_organisation_id, cmd.data_categories)
        if gaps:
            raise ConsentMissing(cmd.case_id, gaps, answer.granted | {"withdrawn": withdrawals.withdrawn})
        return answer

    async def decide(self, referral_id: str, decision: Decision, ctx: CommandContext, *, expected_version: int | None,
                     conn=None) -> int:
        """Apply one decision to a referral (the case side); returns the referral's new version (its ETag). `conn`:
        a transaction the caller holds (the kim.cases consumer's); None: a unit of work of its own."""
        if conn is None:
            async with UnitOfWork(self.store) as uow:
                return await self.decide(referral_id, decision, ctx, expected_version=expected_version, conn=uow)
        loaded = await self.repo.load(conn, referral_id)
        if loaded is None:
            raise NotFound(f"referral {referral_id} does not exist")
        check_expected(referral_id, expected_version, loaded.version)
        version, _ = await self._save(conn, loaded, decision(loaded.referral, self.clock()), ctx)
        return version

    async def decide_as_partner(self, organisation_id: str, partner_referral_id: str, decision: Decision,
                                ctx: CommandContext, *, expected_version: int | None) -> int:
        """A partner acts on its referral, named by its own id; returns the partner stream's new version (its ETag).

        Another partner's referral answers exactly like an unknown one, and no answer names the internal id.
        """
        async with UnitOfWork(self.store) as uow:
            row = await self.tables.referral_of_partner(uow.conn, organisation_id, partner_referral_id)
            loaded = await self.repo.load(uow, row["referral_id"]) if row is not None else None
            if loaded is None:
                raise NotFound(f"referral {partner_referral_id} does not exist")
            refuse_if_revoked(partner_referral_id, row, loaded.shown)
            check_expected(partner_referral_id, expected_version, loaded.partner.version)
            try:
                _, partner_version = await self._save(uow, loaded, decision(loaded.referral, self.clock()), ctx)
            except ConcurrencyConflict:  # the referral's own stream moved: say so under the partner's id
                raise ConcurrencyConflict(partner_referral_id, loaded.partner.version, None) from None
            return partner_version

    async def follow_up(self, referral_id: str, decision: Callable[[Referral], list[Event]], ctx: CommandContext, *,
                        conn) -> None:
        """A follow-up (Wiedervorlage) the scheduler records: decided on the referral as it is now, appended to the
        referral's follow-up stream (wv-<referral id>), so the referral's version and its partner's view stay."""
        loaded = await self.repo.load(conn, referral_id)
        events = decision(loaded.referral) if loaded is not None else []
        if not events:
            return
        stream = events[0].stream_id()
        ctx = ctx.in_municipality(await self.gate.municipality_of(conn, loaded.referral.case_id))
        await self.records.append(stream, await self.store.stream_version(stream, conn), events, ctx, uow=conn,
                                  subject=loaded.client_id)

    async def _save(self, uow, loaded: Loaded, events: list[Event], ctx: CommandContext) -> tuple[int, int]:
        referral, conn = loaded.referral, connection(uow)
        ctx = ctx.in_municipality(await self.gate.municipality_of(conn, referral.case_id))
        to_partner = partner_view.changes(loaded.shown.snapshot, loaded.partner.version, events)
        version, partner_version = await self.repo.append(
            uow, referral, events, to_partner, expected_version=loaded.version, ctx=ctx,
            client_id=loaded.client_id, pseudonym=loaded.pseudonym, partner=loaded.partner)
        await self.tables.update_referral(conn, referral, version, replace(loaded.partner, version=partner_version))
        if any(isinstance(e, ReferralRevoked) for e in events):
            # whatever reason (consent withdrawn or expired, the client erased): no stored answer about the referral
            # (a partner's accepted snapshot, say) is replayed to a retry with its Idempotency-Key from now on
            await idempotency.forget(conn, referral.referral_id, loaded.partner.referral_id)
        return version, partner_version
