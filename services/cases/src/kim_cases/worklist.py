"""The worklist (Wiedervorlage): what falls due for a case manager or a team, from kim.cases and kim.referrals.

One row per open follow-up, keyed by what it is about, with the day it falls due:

| kind | key | falls due | set by (moved by a repeat) | the follow-up event on its day | leaves when |
|---|---|---|---|---|---|
| `review` | case | next_review_on | ReviewHeld | ReviewDue | the next ReviewHeld (without a next date); case closed |
| `pause_end` | case | expected_resume_on | CasePaused | PauseEndDue | CaseResumed; case closed |
| `referral_overdue` | referral | the day after due_on | ReferralRequested | ReferralOverdue | accepted, declined, revoked, closed |
| `appointment_outcome` | referral | the day after the appointment | AppointmentScheduled | AppointmentOutcomeMissing | outcome reported, revoked, closed |

`fell_due` turns true when the scheduler's follow-up event arrives. Codes and ids only, no personal data. A
case's place (team, municipality, case manager) comes from its own events, so the scope of a row is its case's.
"""

from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum

import asyncpg
from kim_runtime.auth import UNSCOPED, Principal
from kim_runtime.envelope import Envelope
from kim_runtime.projection import Projection
from kim_runtime.topics import service_topic
from kim_schemas import cases as ev
from kim_schemas import referrals as rev

_DAY_AFTER = timedelta(days=1)


class Due(StrEnum):
    TODAY = "today"
    OVERDUE = "overdue"
    WEEK = "week"


class Whose(StrEnum):
    MINE = "mine"
    TEAM = "team"


class Worklist(Projection):
    name = "worklist"
    topics = (service_topic("cases"), service_topic("referrals"))
    ddl = """
    CREATE TABLE IF NOT EXISTS {schema}.cases (
        case_id text PRIMARY KEY, municipality text, team_organisation_id text, case_manager_id text,
        closed boolean NOT NULL DEFAULT false);
    CREATE TABLE IF NOT EXISTS {schema}.items (
        key text PRIMARY KEY, kind text NOT NULL, case_id text NOT NULL, referral_id text, due_on date NOT NULL,
        fell_due boolean NOT NULL DEFAULT false);
    CREATE INDEX IF NOT EXISTS items_due ON {schema}.items (due_on);
    CREATE INDEX IF NOT EXISTS items_case ON {schema}.items (case_id);
    """
    event_types = (
        ev.CaseOpened, ev.CaseTransferred, ev.CaseClosed, ev.ReviewHeld, ev.ReviewDue, ev.CasePaused, ev.PauseEndDue,
        ev.CaseResumed, rev.ReferralRequested, rev.ReferralOverdue, rev.ReferralAccepted, rev.ReferralDeclined,
        rev.AppointmentScheduled, rev.AppointmentOutcomeMissing, rev.ReferralOutcomeReported, rev.ReferralRevoked,
        rev.ReferralClosed)

    async def apply(self, conn: asyncpg.Connection, schema: str, event: Envelope) -> None:
        kind, d = event.type.rsplit(".", 1)[-1], event.data
        case_id, rid = d.get("case_id"), d.get("referral_id")
        match kind:
            case "CaseOpened" | "CaseTransferred":
                await conn.execute(
                    f"INSERT INTO {schema}.cases (case_id, municipality, team_organisation_id, case_manager_id) "
                    "VALUES ($1, $2, $3, $4) ON CONFLICT (case_id) DO UPDATE SET municipality = $2, "
                    "team_organisation_id = $3, case_manager_id = $4", case_id, d["municipality"],
                    d["team_organisation_id"], d["case_manager_id"])
            case "CaseClosed":
                await conn.execute(f"INSERT INTO {schema}.cases (case_id, closed) VALUES ($1, true) "
                                   "ON CONFLICT (case_id) DO UPDATE SET closed = true", case_id)
                await conn.execute(f"DELETE FROM {schema}.items WHERE case_id = $1", case_id)
            case "ReviewHeld":
                await _plan(conn, schema, f"review:{case_id}", "review", case_id, None, d.get("next_review_on"))
            case "CasePaused":
                await _plan(conn, schema, f"pause_end:{case_id}", "pause_end", case_id, None,
                            d.get("expected_resume_on"))
            case "ReviewDue" | "PauseEndDue":
                item = "review" if kind == "ReviewDue" else "pause_end"
                await _plan(conn, schema, f"{item}:{case_id}", item, case_id, None, d.get("due_on"), fell_due=True)
            case "CaseResumed":
                await _drop(conn, schema, f"pause_end:{case_id}")
            case "ReferralRequested" | "ReferralOverdue":
                await _plan(conn, schema, f"referral_overdue:{rid}", "referral_overdue", case_id, rid,
                            _day_after(d.get("due_on")), fell_due=kind == "ReferralOverdue")
            case "AppointmentScheduled" | "AppointmentOutcomeMissing":
                await _plan(conn, schema, f"appointment_outcome:{rid}", "appointment_outcome", case_id, rid,
                            _day_after(d["appointment_on"]), fell_due=kind == "AppointmentOutcomeMissing")
            case "ReferralAccepted" | "ReferralDeclined":
                await _drop(conn, schema, f"referral_overdue:{rid}")
            case "ReferralOutcomeReported":
                await _drop(conn, schema, f"appointment_outcome:{rid}")
            case "ReferralRevoked" | "ReferralClosed":
                await _drop(conn, schema, f"referral_overdue:{rid}", f"appointment_outcome:{rid}")


def _day_after(day: str | None) -> str | None:
    return (date.fromisoformat(day) + _DAY_AFTER).isoformat() if day else None


async def _plan(conn: asyncpg.Connection, schema: str, key: str, kind: str, case_id: str | None,
                referral_id: str | None, due_on: str | None, *, fell_due: bool = False) -> None:
    """Set (or move) a follow-up; no day: it is gone. A follow-up of a closed case is not kept."""
    if due_on is None or case_id is None:
        await _drop(conn, schema, key)
        return
    if await conn.fetchval(f"SELECT closed FROM {schema}.cases WHERE case_id = $1", case_id):
        return
    await conn.execute(
        f"INSERT INTO {schema}.items (key, kind, case_id, referral_id, due_on, fell_due) "
        "VALUES ($1, $2, $3, $4, $5::text::date, $6) ON CONFLICT (key) DO UPDATE SET due_on = $5::text::date, "
        f"fell_due = {schema}.items.fell_due AND {schema}.items.due_on = $5::text::date OR $6",
        key, kind, case_id, referral_id, due_on, fell_due)


async def _drop(conn: asyncpg.Connection, schema: str, *keys: str) -> None:
    await conn.execute(f"DELETE FROM {schema}.items WHERE key = ANY($1::text[])", list(keys))


def window(due: Due, today: date) -> tuple[date | None, date]:
    """(first day or None for open-ended, last day) of the follow-ups to list."""
    match due:
        case Due.TODAY:
            return today, today
        case Due.OVERDUE:
            return None, today - _DAY_AFTER
    return today, today + timedelta(days=6)


class WorklistReader:
    def __init__(self, pool: asyncpg.Pool, projection: Worklist):
        self.pool, self.schema = pool, f'"{projection.name}"'

    async def list(self, principal: Principal, *, due: Due, whose: Whose, today: date, limit: int,
                   offset: int = 0) -> list[dict]:
        """The follow-ups of open cases in the caller's reach (and, for `mine`, that they manage), oldest first."""
        first, last = window(due, today)
        where, args = ["NOT c.closed", "i.due_on <= $1", "($2::date IS NULL OR i.due_on >= $2)"], [last, first]
        if principal.role not in UNSCOPED:
            args += [principal.team, principal.municipality]
            where.append(f"(c.team_organisation_id = ${len(args) - 1} OR c.municipality = ${len(args)})")
        if whose is Whose.MINE:
            args.append(principal.sub)
            where.append(f"c.case_manager_id = ${len(args)}")
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                f"SELECT i.kind, i.case_id, i.referral_id, i.due_on, i.fell_due, c.case_manager_id, "
                f"c.team_organisation_id, c.municipality FROM {self.schema}.items i "
                f"JOIN {self.schema}.cases c USING (case_id) WHERE {' AND '.join(where)} "
                f"ORDER BY i.due_on, i.key LIMIT {int(limit)} OFFSET {int(offset)}", *args)
        return [{**dict(r), "due_on": r["due_on"].isoformat(), "days_overdue": (today - r["due_on"]).days}
                for r in rows]
