"""What `kim replay` rebuilds of the staffing service: the caseload policy's tables (a process manager: a replay
recounts from kim.cases and kim.staffing and appends no event; see application/caseload.py)."""

from __future__ import annotations

from .application.caseload import CaseloadPolicy

PROJECTIONS = [CaseloadPolicy()]
