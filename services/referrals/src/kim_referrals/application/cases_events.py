"""What the referrals service does with kim.cases: keep the consent gate, and revoke what a consent no longer covers.

The consent gate is a process manager (kim_runtime.projection.ProcessManager) named `consent_gate`, with its tables
in its own schema; one consumer (group kim-referrals-consent_gate) so a case's events are handled in their order.
Per event, in the consumer's transaction: the gate's rows change (`apply`), and every open referral the change
affects is revoked and its partner told to purge (`react`) before the offset moves on; the inbox claim commits with
them, so each revocation is decided once. `kim replay consent_gate` rebuilds the tables from kim.cases and never
reacts: the revocations are in the store already, and a replay appends nothing. The gate keeps no consent dates (the
cases service decides on them when a referral is requested): a withdrawal or an expiry is applied in event order,
under the consent row's lock that a request holds while it commits its referral. A withdrawal takes effect from the
moment it is handled; `effective_at` is informational. ConsentExpired (the cases service's scheduler, the day after
valid_until) revokes every open referral resting on the consent (reason einwilligung_abgelaufen), with the same
purge. ClientErased revokes every open referral of every case of the client (reason loeschung) and drops the
client's facts (residence status, Rechtskreis) from the gate. Languages no longer reach the gate: ClientRegistered
v2 carries them encrypted with the client's key, which only the cases service holds. The dates of kim.cases events
are sealed (contract 5.0.0, kim_schemas.sealing; this service holds no key): the gate reads only what stays in clear
(ids, team, municipality, the consent's scope, the residence status code, the Rechtskreis) and takes a closure's, a
withdrawal's and an expiry's moment from the record's time (ce_time).
"""

from __future__ import annotations

from datetime import datetime

import asyncpg
from kim_runtime import idempotency
from kim_runtime.commands import CommandContext
from kim_runtime.envelope import Envelope
from kim_runtime.errors import ConcurrencyConflict
from kim_runtime.projection import ProcessManager
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
from ..domain.consent import Withdrawals
from ..domain.referral import Referral
from .commands import Decision, ReferralCommands

HANDLED = (AssessmentCompleted, CaseClosed, CaseOpened, CaseTransferred, ClientErased, ClientRegistered, ConsentExpired,
           ConsentGranted, ConsentWithdrawn, RechtskreisChanged, ResidenceStatusRecorded)
CONFLICT_RETRIES = 5
LEGACY = ("gate_cases", "gate_clients", "gate_consents")  # in `public` before the gate was a projection
LEGACY_CONSUMER = "cases"  # its consumer's name then (inbox claims and checkpoints move over)


class ConsentGate(ProcessManager):
    """`commands`: the referral commands its reactions run (None: a gate only rebuilt, e.g. by `kim replay`)."""

    name = "consent_gate"
    topics = (service_topic("cases"),)
    event_types = HANDLED  # event classes: the runtime passes over (and counts) the other types
    ddl = """
    CREATE TABLE IF NOT EXISTS {schema}.gate_cases (
        case_id text PRIMARY KEY, client_id text, municipality text, team_organisation_id text,
        residence_status text, rechtskreis text, closed_on date);
    CREATE INDEX IF NOT EXISTS gate_cases_by_client ON {schema}.gate_cases (client_id);
    CREATE TABLE IF NOT EXISTS {schema}.gate_clients (
        client_id text PRIMARY KEY, languages text[] NOT NULL DEFAULT '{{}}', erased_at timestamptz);
    CREATE TABLE IF NOT EXISTS {schema}.gate_consents (
        consent_id text PRIMARY KEY, case_id text NOT NULL, recipients text[] NOT NULL DEFAULT '{{}}',
        purposes text[] NOT NULL DEFAULT '{{}}', data_categories text[] NOT NULL DEFAULT '{{}}',
        withdrawn_at timestamptz, withdrawn_recipients text[] NOT NULL DEFAULT '{{}}',
        withdrawn_categories text[] NOT NULL DEFAULT '{{}}', expired_at timestamptz);
    CREATE INDEX IF NOT EXISTS gate_consents_by_case ON {schema}.gate_consents (case_id);
    """

    def __init__(self, commands: ReferralCommands | None = None):
        self.commands = commands

    async def apply(self, conn: asyncpg.Connection, schema: str, env: Envelope) -> Withdrawals | None:
        """The gate's rows; returns what a withdrawal left of the consent (for `react`)."""
        event = env.event  # read through the contract's model by the runtime
        match event:
            case CaseOpened():
                await gate_sql.ensure_client(conn, event.client_id, schema=schema)
                await gate_sql.upsert_case(conn, event.case_id, schema=schema, client_id=event.client_id,
                                           municipality=event.municipality,
                                           team_organisation_id=event.team_organisation_id)
            case CaseTransferred():
                await gate_sql.upsert_case(conn, event.case_id, schema=schema, municipality=event.municipality,
                                           team_organisation_id=event.team_organisation_id)
            case ClientRegistered():  # since v2 its languages are encrypted: the gate learns no languages
                await gate_sql.ensure_client(conn, event.client_id, schema=schema)
            case ClientErased():
                await gate_sql.erase_client(conn, event.client_id, event.erased_at, schema=schema)
            case ResidenceStatusRecorded():
                await gate_sql.set_case_facts(conn, event.case_id, schema=schema, residence_status=event.status.value)
            case AssessmentCompleted():
                await gate_sql.set_case_facts(conn, event.case_id, schema=schema, rechtskreis=event.rechtskreis.value)
            case RechtskreisChanged():
                await gate_sql.set_case_facts(conn, event.case_id, schema=schema, rechtskreis=event.current.value)
            case ConsentGranted():
                await gate_sql.add_consent(conn, event.consent_id, event.case_id, recipients=event.recipients,
                                           purposes=[p.value for p in event.purposes],
                                           data_categories=[c.value for c in event.data_categories], schema=schema)
            case ConsentWithdrawn():
                withdrawals = await gate_sql.lock_consent(conn, event.consent_id, event.case_id, exclusive=True,
                                                          schema=schema)
                category = event.data_category.value if event.data_category else None
                withdrawals = withdrawals.withdraw(event.scope, event.recipient, category)
                await gate_sql.save_withdrawal(conn, event.consent_id, withdrawals, event.effective_at or env.time,
                                               schema=schema)  # v2 seals effective_at: the record time
                return withdrawals
            case ConsentExpired():
                await gate_sql.lock_consent(conn, event.consent_id, event.case_id, exclusive=True, schema=schema)
                await gate_sql.save_expiry(conn, event.consent_id, event.expired_at or env.time, schema=schema)
            case CaseClosed():
                await gate_sql.upsert_case(conn, event.case_id, schema=schema,
                                           closed_on=event.closed_on or env.time.date())  # v2 seals the date
        return None

    async def react(self, conn: asyncpg.Connection, schema: str, env: Envelope,
                    withdrawals: Withdrawals | None) -> None:
        """Live only: revoke every open referral the change leaves uncovered."""
        event = env.event
        match event:
            case ClientErased():
                for referral_id in await referral_sql.open_referral_ids(conn, client_id=event.client_id):
                    await self._change(conn, env, referral_id,
                                       lambda r, now: r.revoke(RevocationReason.ERASURE, now))
                await idempotency.forget(conn, event.client_id)  # e.g. a referral request's answer about them
            case ConsentWithdrawn():
                await self._withdrawn(conn, env, event, withdrawals)
            case ConsentExpired():
                for referral_id in await referral_sql.open_referral_ids(conn, consent_id=event.consent_id):
                    await self._change(conn, env, referral_id, lambda r, now: r.revoke(
                        RevocationReason.CONSENT_EXPIRED, now, event.consent_id))
            case CaseClosed():
                for referral_id in await referral_sql.open_referral_ids(conn, case_id=event.case_id):
                    await self._change(conn, env, referral_id, lambda r, now: r.end_with_case(now))

    async def _withdrawn(self, conn: asyncpg.Connection, env: Envelope, event: ConsentWithdrawn,
                         withdrawals: Withdrawals) -> None:
        consent_id = event.consent_id

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

    async def create_schema(self, conn: asyncpg.Connection, schema: str | None = None) -> None:
        """The schema and tables; at the first start after the gate became a projection, the rows of its tables in
        `public` move over (those tables stay, empty and unused) and so do its consumer's inbox claims and
        checkpoints (a redelivered event finds its claim under the new name)."""
        await super().create_schema(conn, schema)
        if (schema or self.name) != self.name:
            return
        for table in LEGACY:
            if not await conn.fetchval(f"SELECT to_regclass('public.{table}') IS NOT NULL "
                                       f"AND EXISTS (SELECT 1 FROM public.{table})"):
                continue
            columns = ", ".join(r["column_name"] for r in await conn.fetch(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 "
                "ORDER BY ordinal_position", self.name, table))
            await conn.execute(f"INSERT INTO {gate_sql.LIVE}.{table} ({columns}) SELECT {columns} FROM public.{table} "
                               f"ON CONFLICT DO NOTHING; DELETE FROM public.{table}")
        for table in ("inbox", "checkpoints"):
            await conn.execute(f"UPDATE {table} SET consumer = $1 WHERE consumer = $2 AND NOT EXISTS "
                               f"(SELECT 1 FROM {table} WHERE consumer = $1)", self.name, LEGACY_CONSUMER)
