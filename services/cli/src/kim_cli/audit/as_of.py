"""A case's state at a past moment: its events up to then, folded by the cases service's own aggregate (the same
code that decides its commands), or, if that cannot read them, by a generic merge of the events' data."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from kim_runtime.dispatch import by_type
from kim_schemas import cases as cev
from kim_schemas import staffing as sev

from kim_cli.audit.connect import UserError
from kim_cli.audit.personal import Opener
from kim_cli.audit.trail import Entry


def parse_time(text: str) -> datetime:
    """ISO 8601; without a zone it is UTC; a bare date means the end of that day."""
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time.max, UTC)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UserError(f"--as-of {text!r} is not a time: write e.g. 2026-03-01 or 2026-03-01T14:30:00+01:00") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# The business date of an event: the day the casework it records happened (may lie before it was recorded, when work
# is entered later). Events without one (registration, follow-ups, erasure, ...) count from their occurred_at.
BUSINESS_DATE = by_type({
    cev.CaseOpened: "opened_on", cev.ConsentGranted: "granted_on", cev.ConsentWithdrawn: "effective_at",
    cev.ConsentExpired: "expired_at", cev.AssessmentCompleted: "assessed_on",
    cev.ResidenceStatusRecorded: "recorded_on", cev.RechtskreisChanged: "changed_on",
    cev.IntegrationPlanAgreed: "agreed_on", cev.ReviewHeld: "held_on", cev.GoalAchieved: "achieved_on",
    cev.GoalDropped: "dropped_on", cev.MilestoneRecorded: "reached_on", cev.CaseTransferred: "transferred_on",
    cev.CasePaused: "paused_on", cev.CaseResumed: "resumed_on", cev.CaseClosed: "closed_on", cev.ReviewDue: "due_on",
    cev.PauseEndDue: "due_on", sev.CaseManagerAssigned: "assigned_on", sev.PositionFilled: "filled_on",
    sev.PositionVacated: "vacated_on", sev.PositionTransferred: "transferred_on",
    sev.PositionEstablished: "valid_from",
})
BY = ("recorded", "business")


def business_date(e: Entry) -> date | None:
    value = e.data.get(BUSINESS_DATE.get(e.type, ""), None) if isinstance(e.data, dict) else None
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def happened_by(e: Entry, moment: datetime, by: str) -> bool:
    """Recorded: occurred_at (the recording time) up to the moment. Business: the business date up to the moment's
    day, or occurred_at for an event that has none."""
    if by == "business":
        day = business_date(e)
        if day is not None:
            return day <= moment.date()
    return e.time <= moment


def state_as_of(case_id: str, client_id: str, trail: list[Entry], moment: datetime, opener: Opener,
                by: str = "recorded") -> dict[str, Any]:
    if by not in BY:
        raise UserError(f"--by {by!r}: choose recorded (the time each event was recorded) or business (the date "
                        "the casework happened, e.g. opened_on, held_on)")
    case_events = [e for e in trail if e.service == "cases" and e.stream_id == case_id and happened_by(e, moment, by)]
    if not case_events:
        first = "business date" if by == "business" else "recording time"
        raise UserError(f"case {case_id} did not exist yet at {moment.isoformat()} by {first}: its first event is "
                        f"later{'' if by == 'business' else ' (for the date the casework happened: --by business)'}")
    # the client's registration precedes their case: by business date it counts whenever the case does
    client_events = [e for e in trail if e.service == "cases" and e.stream_id == client_id
                     and (happened_by(e, moment, by) or (by == "business" and business_date(e) is None
                                                         and e.type == cev.ClientRegistered.event_type))]
    from kim_cases.public import UnreadableHistory, case_state_at

    try:
        state = case_state_at(case_id, [_stored(e) for e in case_events], client_id,
                              [_stored(e) for e in client_events], moment.date(), opener)
        folded_by = "kim_cases aggregate"
    except UnreadableHistory:  # an event the aggregate cannot take (unknown version, schema drift): fold generically
        state, folded_by = _generic(case_events, client_events, opener), "generic fold of event data"
    return {"case_id": case_id, "as_of": moment.isoformat(), "by": by, "version": case_events[-1].version,
            "last_event": case_events[-1].type, "last_event_at": case_events[-1].time.isoformat(),
            "client_erased_now": opener.erased, "folded_by": folded_by, "state": state}


def _stored(entry: Entry) -> tuple[str, int, dict]:
    return entry.type, entry.schema_version, entry.data


def _generic(case_events: list[Entry], client_events: list[Entry], opener: Opener) -> dict:
    state: dict[str, Any] = {}
    for e in client_events + case_events:
        state |= opener.data({k: v for k, v in e.data.items()})
    state["events"] = [f"{e.short_type()} v{e.version}" for e in case_events]
    return state
