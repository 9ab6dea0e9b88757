"""The cases service's deadlines (kim_runtime.scheduler): which events set, move or cancel one, and what fires.

| deadline (key) | set by | due | moved / cancelled by | fires |
|---|---|---|---|---|
| `consent-expiry:<consent>` | ConsentGranted with valid_until | start of the day after valid_until | ConsentWithdrawn (all) | ConsentExpired |
| `review-due:<case>` | ReviewHeld with next_review_on | start of that day | the next ReviewHeld; CaseClosed | ReviewDue (stream wv-<case>) |
| `pause-end:<case>` | CasePaused with expected_resume_on | start of that day | CaseResumed; CaseClosed | PauseEndDue (stream wv-<case>) |
| `retention:<case>` | CaseClosed | closed_on + the reason's retention years | — | ClientErased (aufbewahrungsfrist) |
| `retention-recheck:<client>` | LegalHoldLifted | at once | — | ClientErased, if a period passed |

Every handler decides on the aggregate as it is when the deadline fires, so a deadline that no longer applies fires
nothing. Days are the county's (Europe/Berlin). Retention: a client is erased once every case of theirs is closed, the
longest period of their closures has passed, and no legal hold is in force; a lifted hold re-checks at once.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from datetime import date, datetime, timedelta

import asyncpg
from kim_runtime.auth import Principal, Role
from kim_runtime.envelope import Envelope
from kim_runtime.scheduler import Cancel, Change, Deadline, Due, FireHandler, local_day, start_of
from kim_schemas import cases as ev
from kim_schemas.codes import ErasureGround, ErasureReason

from kim_cases.adapters.events import CommandContext, from_envelope
from kim_cases.application.clients import destroy_key
from kim_cases.application.services import Services
from kim_cases.settings import CasesSettings

SCHEDULER = Principal(sub="kim-cases-scheduler", role=Role.ADMIN, name="Wiedervorlage und Fristen")


def plus_years(day: date, years: int) -> date:
    year = day.year + years
    return day.replace(year=year, day=min(day.day, calendar.monthrange(year, day.month)[1]))


class CaseDeadlines:
    """The schedule (event → deadline changes) and the handlers (deadline → events) of the cases service."""

    def __init__(self, settings: CasesSettings):
        self.settings = settings

    # -- the schedule: run by the event store inside every append ---------------------------------------------
    WATCHED = frozenset(m.event_type for m in (ev.ConsentGranted, ev.ConsentWithdrawn, ev.ReviewHeld, ev.CasePaused,
                                                ev.CaseResumed, ev.CaseClosed, ev.LegalHoldLifted))

    def __call__(self, env: Envelope) -> Iterator[Change]:
        if env.type not in self.WATCHED:
            return
        e = env.event if env.event is not None else from_envelope(env)  # the decision in clear (before sealing)
        match e:
            case ev.ConsentGranted(valid_until=until) if until is not None:
                yield Deadline(f"consent-expiry:{e.consent_id}", "consent-expiry", e.case_id,
                               start_of(until + timedelta(days=1)), {"consent_id": e.consent_id})
            case ev.ConsentWithdrawn(scope=scope) if scope.value == "alle":
                yield Cancel(key=f"consent-expiry:{e.consent_id}")
            case ev.ReviewHeld():
                yield self._day_deadline("review-due", e.case_id, e.next_review_on)
            case ev.CasePaused():
                yield self._day_deadline("pause-end", e.case_id, e.expected_resume_on)
            case ev.CaseResumed():
                yield Cancel(key=f"pause-end:{e.case_id}")
            case ev.CaseClosed():
                yield Cancel(key=f"review-due:{e.case_id}")
                yield Cancel(key=f"pause-end:{e.case_id}")
                until = plus_years(e.closed_on, self.settings.retention_years_for(e.reason))
                yield Deadline(f"retention:{e.case_id}", "retention", e.case_id, start_of(until),
                               {"client_id": env.subject})
            case ev.LegalHoldLifted():
                yield Deadline(f"retention-recheck:{e.client_id}", "retention", e.client_id, e.lifted_at,
                               {"client_id": e.client_id})

    @staticmethod
    def _day_deadline(kind: str, case_id: str, day: date | None) -> Change:
        if day is None:
            return Cancel(key=f"{kind}:{case_id}")
        return Deadline(f"{kind}:{case_id}", kind, case_id, start_of(day), {"due_on": day.isoformat()})

    def handlers(self, services: Services) -> dict[str, FireHandler]:
        """What fires, on the command handlers the composition root built (kim_cases.bootstrap)."""
        return CaseFollowUps(self.settings, services).handlers()


class CaseFollowUps:
    """The handlers: run by the scheduler when a deadline falls due."""

    def __init__(self, settings: CasesSettings, services: Services):
        self.settings, self.services = settings, services

    def handlers(self) -> dict[str, FireHandler]:
        return {"consent-expiry": self.expire_consent, "review-due": self.review_due, "pause-end": self.pause_end,
                "retention": self.retention}

    async def expire_consent(self, conn: asyncpg.Connection, due: Due, now: datetime) -> None:
        await self._on_case(conn, due, lambda case: case.expire_consent(due.data["consent_id"], due.due_at))

    async def review_due(self, conn: asyncpg.Connection, due: Due, now: datetime) -> None:
        await self._on_case(conn, due, lambda case: case.review_falls_due(date.fromisoformat(due.data["due_on"])))

    async def pause_end(self, conn: asyncpg.Connection, due: Due, now: datetime) -> None:
        await self._on_case(conn, due, lambda case: case.pause_end_falls_due(date.fromisoformat(due.data["due_on"])))

    async def _on_case(self, conn: asyncpg.Connection, due: Due, decide) -> None:
        """Decide on the case as it is now; the events go to their own stream (a follow-up's wv-<case>, so the
        case's version stays) or to the case's (ConsentExpired)."""
        s = self.services
        case = await s.repo.case(due.stream_id, conn)
        events = decide(case)
        if not events:
            return
        stream = events[0].stream_id()
        version = case.version if stream == case.case_id else await s.store.stream_version(stream, conn)
        await s.repo.append(stream, version, events, _context(due), subject=case.client_id,
                            municipality=case.municipality, conn=conn)

    async def retention(self, conn: asyncpg.Connection, due: Due, now: datetime) -> None:
        s = self.services
        client = await s.repo.client(due.data["client_id"], conn)
        if client.erased or client.holds:
            return  # a lifted hold re-checks (retention-recheck)
        cases = [await s.repo.case(cid, conn) for cid in await s.registrations.case_ids_of(client.client_id, conn)]
        if not cases or any(not c.closed for c in cases):
            return  # the closure of the last open case sets its own deadline
        until = max(plus_years(c.closure.closed_on, self.settings.retention_years_for(c.closure.reason))
                    for c in cases)
        if until > local_day(now):
            return  # the longest period has not passed: that case's own deadline fires later
        events = client.erase(now, ground=ErasureGround.PURPOSE_GONE, reason=ErasureReason.RETENTION)
        await destroy_key(s, conn, _context(due), client, events)


def _context(due: Due) -> CommandContext:
    return CommandContext(actor=SCHEDULER.sub, principal=SCHEDULER)
