"""A case's state at a past moment: its events up to then, folded by the cases service's own aggregate (the same
code that decides its commands), or, if that cannot read them, by a generic merge of the events' data."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

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


def state_as_of(case_id: str, client_id: str, trail: list[Entry], moment: datetime, opener: Opener) -> dict[str, Any]:
    case_events = [e for e in trail if e.service == "cases" and e.stream_id == case_id and e.time <= moment]
    if not case_events:
        raise UserError(f"case {case_id} did not exist yet at {moment.isoformat()}: its first event is later")
    client_events = [e for e in trail if e.service == "cases" and e.stream_id == client_id and e.time <= moment]
    try:
        state = _aggregate(case_id, case_events, client_events, moment, opener)
        folded_by = "kim_cases aggregate"
    except Exception:  # an event the aggregate cannot take (unknown version, schema drift): fold generically
        state, folded_by = _generic(case_events, client_events, opener), "generic fold of event data"
    return {"case_id": case_id, "as_of": moment.isoformat(), "version": case_events[-1].version,
            "last_event": case_events[-1].type, "last_event_at": case_events[-1].time.isoformat(),
            "client_erased_now": opener.erased, "folded_by": folded_by, "state": state}


def _parse(entry: Entry):
    from kim_schemas import parse

    return parse(entry.type, entry.schema_version, entry.data)


def _aggregate(case_id: str, case_events: list[Entry], client_events: list[Entry], moment: datetime,
               opener: Opener) -> dict:
    from kim_cases.application.views import case_state
    from kim_cases.domain import Case, Client

    case = Case.from_events(case_id, [_parse(e) for e in case_events])
    client = Client.from_events(client_events[0].stream_id if client_events else "",
                                [_parse(e) for e in client_events])
    personal = client.registered.personal if client.registered else None
    return case_state(case, opener, personal, moment.date())


def _generic(case_events: list[Entry], client_events: list[Entry], opener: Opener) -> dict:
    state: dict[str, Any] = {}
    for e in client_events + case_events:
        state |= opener.data({k: v for k, v in e.data.items()})
    state["events"] = [f"{e.short_type()} v{e.version}" for e in case_events]
    return state
