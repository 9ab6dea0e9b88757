"""The referrals service's deadlines (kim_runtime.scheduler): follow-ups (Wiedervorlage) of a referral.

| deadline (key) | set by | due | cancelled by | fires |
|---|---|---|---|---|
| `referral-overdue:<referral>` | ReferralRequested with due_on | start of the day after due_on | accepted, declined, revoked, closed | ReferralOverdue (stream wv-<referral>) |
| `appointment-outcome:<referral>` | AppointmentScheduled (a new date moves it) | start of the day after the appointment | outcome reported, revoked, closed | AppointmentOutcomeMissing (stream wv-<referral>) |

The handler decides on the referral as it is when the deadline fires (a referral that moved on fires nothing).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta

import asyncpg
from kim_runtime.commands import CommandContext
from kim_runtime.dispatch import types_of
from kim_runtime.envelope import Envelope
from kim_runtime.scheduler import Cancel, Change, Deadline, Due, FireHandler, start_of
from kim_schemas import referrals as ev

from .commands import ReferralCommands

SCHEDULER_ACTOR = "kim-referrals-scheduler"
_ANSWERED = types_of(ev.ReferralAccepted, ev.ReferralDeclined)
_ENDED = types_of(ev.ReferralRevoked, ev.ReferralClosed)


def schedule(env: Envelope) -> Iterator[Change]:
    d, rid = env.data, env.stream_id
    if env.type == ev.ReferralRequested.event_type and d.get("due_on"):
        due_on = date.fromisoformat(d["due_on"])
        yield Deadline(f"referral-overdue:{rid}", "referral-overdue", rid, start_of(due_on + timedelta(days=1)),
                       {"due_on": due_on.isoformat()})
    elif env.type == ev.AppointmentScheduled.event_type:
        day = date.fromisoformat(d["appointment_on"])
        yield Deadline(f"appointment-outcome:{rid}", "appointment-outcome", rid, start_of(day + timedelta(days=1)),
                       {"appointment_on": day.isoformat()})
    if env.type in _ANSWERED | _ENDED:
        yield Cancel(key=f"referral-overdue:{rid}")
    if env.type in _ENDED or env.type == ev.ReferralOutcomeReported.event_type:
        yield Cancel(key=f"appointment-outcome:{rid}")


def handlers(commands: ReferralCommands) -> dict[str, FireHandler]:
    async def overdue(conn: asyncpg.Connection, due: Due, now: datetime) -> None:
        day = date.fromisoformat(due.data["due_on"])
        await commands.follow_up(due.stream_id, lambda r: r.mark_overdue(day), _context(due), conn=conn)

    async def outcome_missing(conn: asyncpg.Connection, due: Due, now: datetime) -> None:
        day = date.fromisoformat(due.data["appointment_on"])
        await commands.follow_up(due.stream_id, lambda r: r.mark_outcome_missing(day), _context(due), conn=conn)

    return {"referral-overdue": overdue, "appointment-outcome": outcome_missing}


def _context(due: Due) -> CommandContext:
    return CommandContext(actor=SCHEDULER_ACTOR)
