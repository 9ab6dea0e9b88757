"""`kim audit case --as-of`: the time asked for. The state at that moment is folded by the cases service itself
(GET /audit/cases/{case_id}?at=..., kim_cases.application.audit_trail), which opens what is encrypted."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from kim_cli.audit.connect import UserError


def parse_time(text: str) -> datetime:
    """ISO 8601; without a zone it is UTC; a bare date means the end of that day."""
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time.max, UTC)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UserError(f"--as-of {text!r} is not a time: write e.g. 2026-03-01 or 2026-03-01T14:30:00+01:00") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
