"""What `kim replay` rebuilds of the referrals service: the consent gate's tables (a process manager: a replay
rebuilds them from kim.cases and revokes nothing, so it appends no event; see application/cases_events.py)."""

from __future__ import annotations

from .application.cases_events import ConsentGate

PROJECTIONS = [ConsentGate()]
