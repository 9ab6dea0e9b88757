"""Read models fed from Kafka (kim.cases). PROJECTIONS is what `kim replay` rebuilds.

case_overview: one row per case for listing and filtering, free of personal data (names are only ever read
from the encrypted events, so erasure needs nothing here). It lags the store by the relay and consumer;
a single case is always read from the store itself.
"""

from __future__ import annotations

import asyncpg
from kim_runtime.auth import UNSCOPED, Principal
from kim_runtime.dispatch import by_type
from kim_runtime.envelope import Envelope
from kim_runtime.projection import Projection
from kim_runtime.topics import service_topic
from kim_schemas import cases as ev
from kim_schemas import referrals as rev

from kim_cases.domain import Phase
from kim_cases.worklist import Worklist

RANK_OF = by_type({ev.ConsentGranted: Phase.CONSENT, ev.AssessmentCompleted: Phase.ASSESSMENT,
                   ev.IntegrationPlanAgreed: Phase.PLAN, ev.ReviewHeld: Phase.MONITORING, ev.CaseClosed: Phase.CLOSED})
PHASES = list(Phase)


class CaseOverview(Projection):
    name = "case_overview"
    topics = (service_topic("cases"),)
    ddl = """
    CREATE TABLE IF NOT EXISTS {schema}.cases (
        case_id text PRIMARY KEY, client_id text NOT NULL, municipality text NOT NULL, team text NOT NULL,
        team_organisation_id text NOT NULL, case_manager_id text NOT NULL, baustein text NOT NULL,
        phase_rank int NOT NULL DEFAULT 0, paused boolean NOT NULL DEFAULT false, opened_on date NOT NULL,
        closed_on date, closure_reason text, version int NOT NULL, updated_at timestamptz NOT NULL DEFAULT now());
    CREATE INDEX IF NOT EXISTS cases_team ON {schema}.cases (team_organisation_id);
    CREATE INDEX IF NOT EXISTS cases_municipality ON {schema}.cases (municipality);
    ALTER TABLE {schema}.cases ALTER COLUMN opened_on DROP NOT NULL;
    """
    # opened_on is empty for a case whose client was erased: its events stay sealed (kim_schemas.sealing), and the
    # erasure empties the dates and the closure reason of the client's cases here too

    async def apply(self, conn: asyncpg.Connection, schema: str, event: Envelope) -> None:
        e, v = event.event, event.stream_version  # the contract's model, set by the runtime's consumers
        if isinstance(e, ev.CaseOpened):
            await conn.execute(
                f"INSERT INTO {schema}.cases (case_id, client_id, municipality, team, team_organisation_id, "
                "case_manager_id, baustein, opened_on, version) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) "
                "ON CONFLICT DO NOTHING", e.case_id, e.client_id, e.municipality, e.team.value,
                e.team_organisation_id, e.case_manager_id, e.baustein.value, e.opened_on, v)
            return
        if isinstance(e, ev.ClientErased):
            await conn.execute(f"UPDATE {schema}.cases SET opened_on = NULL, closed_on = NULL, closure_reason = NULL "
                               "WHERE client_id = $1", e.client_id)
            return
        case_id = getattr(e, "case_id", None)
        if case_id is None:
            return  # client events: nothing to list
        sets, args = self._changes(e)
        sets.append(f"phase_rank = greatest(phase_rank, {PHASES.index(RANK_OF.get(event.type, Phase.INTAKE))})")
        await conn.execute(
            f"UPDATE {schema}.cases SET {', '.join(sets)}, version = $2, updated_at = now() "
            "WHERE case_id = $1 AND version < $2", case_id, v, *args)

    @staticmethod
    def _changes(e) -> tuple[list[str], list]:
        match e:
            case ev.CaseTransferred():
                return (["municipality = $3", "team = $4", "team_organisation_id = $5", "case_manager_id = $6"],
                        [e.municipality, e.team.value, e.team_organisation_id, e.case_manager_id])
            case ev.CasePaused():
                return ["paused = true"], []
            case ev.CaseResumed():
                return ["paused = false"], []
            case ev.CaseClosed():
                return ["paused = false", "closed_on = $3", "closure_reason = $4"], [e.closed_on, e.reason.value if e.reason else None]
        return [], []


class OverviewReader:
    def __init__(self, pool: asyncpg.Pool, projection: CaseOverview):
        self.pool, self.schema = pool, f'"{projection.name}"'

    async def list(self, principal: Principal, *, phase: Phase | None, limit: int, offset: int = 0) -> list[dict]:
        where, args = ["true"], []
        if principal.role not in UNSCOPED:
            args += [principal.team, principal.municipality]
            where.append("(team_organisation_id = $1 OR municipality = $2)")
        if phase is not None:
            args.append(PHASES.index(phase))
            where.append(f"phase_rank = ${len(args)}")
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(f"SELECT * FROM {self.schema}.cases WHERE {' AND '.join(where)} "
                                    f"ORDER BY opened_on DESC, case_id LIMIT {int(limit)} OFFSET {int(offset)}", *args)
        return [{**{k: r[k] for k in r.keys() if k not in ("phase_rank", "updated_at")},
                 "phase": PHASES[r["phase_rank"]].value} for r in rows]


class CaseReferrals(Projection):
    """The referrals of each case and what partners reported back, from kim.referrals (codes only)."""

    name = "case_referrals"
    topics = (service_topic("referrals"),)
    ddl = """
    CREATE TABLE IF NOT EXISTS {schema}.referrals (
        referral_id text PRIMARY KEY, case_id text NOT NULL, to_organisation_id text NOT NULL, purpose text NOT NULL,
        consent_id text NOT NULL, status text NOT NULL, due_on date, appointment_on date, outcome text,
        outcomes jsonb NOT NULL DEFAULT '[]', reason text, updated_at timestamptz NOT NULL DEFAULT now());
    CREATE INDEX IF NOT EXISTS referrals_case ON {schema}.referrals (case_id);
    """
    STATUS = by_type({rev.ReferralAccepted: "accepted", rev.ReferralDeclined: "declined",
                      rev.ReferralClosed: "closed", rev.ReferralRevoked: "revoked"})
    event_types = (rev.ReferralAccepted, rev.ReferralDeclined, rev.ReferralClosed, rev.ReferralRevoked,
                   rev.ReferralRequested, rev.AppointmentScheduled, rev.ReferralOutcomeReported)

    async def apply(self, conn: asyncpg.Connection, schema: str, event: Envelope) -> None:
        d = event.data
        if event.type == rev.ReferralRequested.event_type:
            await conn.execute(
                f"INSERT INTO {schema}.referrals (referral_id, case_id, to_organisation_id, purpose, consent_id, "
                "status, due_on) VALUES ($1, $2, $3, $4, $5, 'requested', $6::text::date) ON CONFLICT DO NOTHING",
                d["referral_id"], d["case_id"], d["to_organisation_id"], d["purpose"], d["consent_id"], d.get("due_on"))
        elif event.type in self.STATUS:
            await conn.execute(f"UPDATE {schema}.referrals SET status = $2, reason = coalesce($3, reason), "
                               "updated_at = now() WHERE referral_id = $1", d["referral_id"],
                               self.STATUS[event.type], d.get("reason"))
        elif event.type == rev.AppointmentScheduled.event_type:
            await conn.execute(f"UPDATE {schema}.referrals SET appointment_on = $2::text::date, updated_at = now() "
                               "WHERE referral_id = $1", d["referral_id"], d["appointment_on"])
        elif event.type == rev.ReferralOutcomeReported.event_type:
            await conn.execute(
                f"UPDATE {schema}.referrals SET outcome = $2, outcomes = outcomes || jsonb_build_array("
                "jsonb_build_object('outcome', $2::text, 'reported_at', $3::text)), updated_at = now() "
                "WHERE referral_id = $1", d["referral_id"], d["outcome"], d["reported_at"])

    @staticmethod
    async def of_case(pool: asyncpg.Pool, case_id: str) -> list[dict]:
        async with pool.acquire() as conn:
            rows = await conn.fetch('SELECT * FROM "case_referrals".referrals WHERE case_id = $1 ORDER BY referral_id',
                                    case_id)
        return [{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items() if k != "updated_at"}
                for r in rows]


PROJECTIONS: list[Projection] = [CaseOverview(), CaseReferrals(), Worklist()]  # what `kim replay` rebuilds
