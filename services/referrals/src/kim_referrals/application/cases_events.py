"""What the referrals service does with kim.cases: keep the consent gate, and revoke what a consent no longer covers.

One consumer (group kim-referrals-cases) so a case's events are handled in their order. Per event, in the
consumer's transaction: the gate's rows change, and every open referral the change affects is revoked (and its
partner told to purge) before the offset moves on. The gate keeps no consent dates (the cases service decides on
them when a referral is requested): a withdrawal or an expiry is applied in event order, under the consent row's
lock that a request holds while it commits its referral. A withdrawal takes effect from the moment it is handled;
`effective_at` is informational. ConsentExpired (the cases service's scheduler, the day after valid_until) revokes
every open referral resting on the consent (reason einwilligung_abgelaufen), with the same purge. ClientErased revokes
every open referral of every case of the client (reason loeschung) and drops the client's facts (residence status,
Rechtskreis) from the gate. Languages no longer reach the gate: ClientRegistered v2 carries them encrypted with the
client's key, which only the cases service holds.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg
from kim_runtime.commands import CommandContext
from kim_runtime.envelope import Envelope
from kim_runtime.errors import ConcurrencyConflict
from kim_runtime.topics import service_topic
from kim_schemas.cases import (
    AssessmentCompleted,
    CaseClosed,
    CaseOpened,
    CaseTransferred,
    ClientErased,
    ClientRegistered,
    ConsentExpired,
    ConsentGranted,
    ConsentWithdrawn,
    RechtskreisChanged,
    ResidenceStatusRecorded,
)
from kim_schemas.codes import RevocationReason

from ..adapters import gate_sql, referral_sql
from ..adapters.events import SERVICE_ACTOR
from ..domain.referral import Referral
from .commands import Decision, ReferralCommands

HANDLED = {m.event_type for m in (AssessmentCompleted, CaseClosed, CaseOpened, CaseTransferred, ClientErased,
                                   ClientRegistered, ConsentExpired, ConsentGranted, ConsentWithdrawn, RechtskreisChanged,
                                   ResidenceStatusRecorded)}
CONFLICT_RETRIES = 5


class CasesEventHandler:
    name = "cases"
    topics = (service_topic("cases"),)
    event_types = HANDLED  # the runtime passes over (and counts) the other types

    def __init__(self, commands: ReferralCommands):
        self.commands = commands

    async def handle(self, conn: asyncpg.Connection, env: Envelope) -> None:
        event = env.event  # read through the contract's model by the runtime
        match event:
            case CaseOpened():
                await gate_sql.ensure_client(conn, event.client_id)
                await gate_sql.upsert_case(conn, event.case_id, client_id=event.client_id,
                                           municipality=event.municipality,
                                           team_organisation_id=event.team_organisation_id)
            case CaseTransferred():
                await gate_sql.upsert_case(conn, event.case_id, municipality=event.municipality,
                                           team_organisation_id=event.team_organisation_id)
            case ClientRegistered():  # since v2 its languages are encrypted: the gate learns no languages
                await gate_sql.ensure_client(conn, event.client_id)
            case ClientErased():
                await gate_sql.erase_client(conn, event.client_id, event.erased_at)
                for referral_id in await referral_sql.open_referral_ids(conn, client_id=event.client_id):
                    await self._change(conn, env, referral_id,
                                       lambda r, now: r.revoke(RevocationReason.ERASURE, now))
            case ResidenceStatusRecorded():
                await gate_sql.set_case_facts(conn, event.case_id, residence_status=event.status.value)
            case AssessmentCompleted():
                await gate_sql.set_case_facts(conn, event.case_id, rechtskreis=event.rechtskreis.value)
            case RechtskreisChanged():
                await gate_sql.set_case_facts(conn, event.case_id, rechtskreis=event.current.value)
            case ConsentGranted():
                await gate_sql.add_consent(conn, event.consent_id, event.case_id, recipients=event.recipients,
                                           purposes=[p.value for p in event.purposes],
                                           data_categories=[c.value for c in event.data_categories])
            case ConsentWithdrawn():
                await self._withdrawn(conn, env, event)
            case ConsentExpired():
                await gate_sql.lock_consent(conn, event.consent_id, event.case_id, exclusive=True)
                await gate_sql.save_expiry(conn, event.consent_id, event.expired_at)
                for referral_id in await referral_sql.open_referral_ids(conn, consent_id=event.consent_id):
                    await self._change(conn, env, referral_id, lambda r, now: r.revoke(
                        RevocationReason.CONSENT_EXPIRED, now, event.consent_id))
            case CaseClosed():
                await gate_sql.upsert_case(conn, event.case_id, closed_on=event.closed_on)
                for referral_id in await referral_sql.open_referral_ids(conn, case_id=event.case_id):
                    await self._change(conn, env, referral_id, lambda r, now: r.end_with_case(now))

    async def _withdrawn(self, conn: asyncpg.Connection, env: Envelope, event: ConsentWithdrawn) -> None:
        consent_id = event.consent_id
        withdrawals = await gate_sql.lock_consent(conn, consent_id, event.case_id, exclusive=True)
        category = event.data_category.value if event.data_category else None
        withdrawals = withdrawals.withdraw(event.scope, event.recipient, category)
        await gate_sql.save_withdrawal(conn, consent_id, withdrawals, event.effective_at)

        def revoke_if_uncovered(referral: Referral, now: datetime):
            gaps = withdrawals.gaps(consent_id, referral.to_organisation_id, referral.data_categories)
            return referral.revoke(RevocationReason.CONSENT_WITHDRAWN, now, consent_id) if gaps else []

        for referral_id in await referral_sql.open_referral_ids(conn, consent_id=consent_id):
            await self._change(conn, env, referral_id, revoke_if_uncovered)

    async def _change(self, conn: asyncpg.Connection, env: Envelope, referral_id: str, decision: Decision) -> None:
        """Decide inside a savepoint; a partner acting at the same moment makes us reload and decide again."""
        ctx = CommandContext.following(env, actor=env.actor or SERVICE_ACTOR)
        for attempt in range(1, CONFLICT_RETRIES + 1):
            try:
                async with conn.transaction():
                    await self.commands.decide(referral_id, decision, ctx, expected_version=None, conn=conn)
                return
            except ConcurrencyConflict:
                if attempt == CONFLICT_RETRIES:
                    raise
