"""Wires the cases service: runtime (store, outbox relay, consumers), projections, HTTP app."""

from __future__ import annotations

from fastapi import FastAPI
from kim_runtime.service import ServiceRuntime

from kim_cases.application.deadlines import CaseDeadlines
from kim_cases.entrypoints import http
from kim_cases.projections import CaseOverview, CaseReferrals
from kim_cases.settings import CasesSettings
from kim_cases.worklist import Worklist


def build_runtime(settings: CasesSettings) -> ServiceRuntime:
    deadlines = CaseDeadlines(settings)
    return ServiceRuntime(settings, migrations_package="kim_cases", projections=[CaseOverview(), CaseReferrals(), Worklist()],
                             schedule=deadlines, deadline_handlers=deadlines.handlers(), hold_deadlines=True)


def build_app(settings: CasesSettings | None = None) -> FastAPI:
    return http.create(build_runtime(settings or CasesSettings()))
