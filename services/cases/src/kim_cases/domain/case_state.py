"""What a case is, rebuilt by applying its events in order. The commands live in the mixins of case.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from kim_runtime.commands import Aggregate
from kim_runtime.errors import RuleViolation
from kim_schemas import cases as ev
from kim_schemas.base import Event

from kim_cases.domain.consent import ConsentState


class Phase(StrEnum):
    """intake → consent → assessment → integration_plan → monitoring → closed; never goes back."""

    INTAKE = "intake"
    CONSENT = "consent"
    ASSESSMENT = "assessment"
    PLAN = "integration_plan"
    MONITORING = "monitoring"
    CLOSED = "closed"

    @property
    def rank(self) -> int:
        return list(Phase).index(self)


@dataclass
class GoalState:
    goal_id: str
    plan_id: str
    status: str = "agreed"  # agreed, achieved, dropped
    on: date | None = None


class CaseState(Aggregate):
    def __init__(self, case_id: str):
        self.case_id = case_id
        self.version = 0
        self.opened: ev.CaseOpened | None = None
        self.phase = Phase.INTAKE
        self.municipality = self.team = self.team_organisation_id = self.case_manager_id = None
        self.paused: ev.CasePaused | None = None
        self.consents: dict[str, ConsentState] = {}
        self.assessment: ev.AssessmentCompleted | None = None
        self.rechtskreis = None
        self.residence: list[ev.ResidenceStatusRecorded] = []
        self.rechtskreis_changes: list[ev.RechtskreisChanged] = []
        self.plans: list[ev.IntegrationPlanAgreed] = []
        self.goals: dict[str, GoalState] = {}
        self.milestones: list[ev.MilestoneRecorded] = []
        self.reviews: list[ev.ReviewHeld] = []
        self.transfers: list[ev.CaseTransferred] = []
        self.pauses: list[ev.CasePaused | ev.CaseResumed] = []
        self.closure: ev.CaseClosed | None = None
        # from the client's own stream (the repository sets it): nothing new is recorded about an erased client
        self.client_erased_at: datetime | None = None

    def apply(self, e: Event) -> None:
        match e:
            case ev.CaseOpened():
                self.opened = e
                self._assign(e)
            case ev.ConsentGranted():
                self.consents[e.consent_id] = ConsentState.of(e)
                self._reach(Phase.CONSENT)
            case ev.ConsentWithdrawn():
                self.consents[e.consent_id].withdraw(e)
            case ev.ConsentExpired():
                self.consents[e.consent_id].expire(e)
            case ev.AssessmentCompleted():
                self.assessment, self.rechtskreis = e, e.rechtskreis
                self._reach(Phase.ASSESSMENT)
            case ev.ResidenceStatusRecorded():
                self.residence.append(e)
            case ev.RechtskreisChanged():
                self.rechtskreis = e.current
                self.rechtskreis_changes.append(e)
            case ev.IntegrationPlanAgreed():
                self.plans.append(e)
                self.goals |= {goal_id: GoalState(goal_id, e.plan_id) for goal_id in e.goal_ids}
                self._reach(Phase.PLAN)
            case ev.ReviewHeld():
                self.reviews.append(e)
                self._reach(Phase.MONITORING)
            case ev.GoalAchieved():
                self.goals[e.goal_id].status, self.goals[e.goal_id].on = "achieved", e.achieved_on
            case ev.GoalDropped():
                self.goals[e.goal_id].status, self.goals[e.goal_id].on = "dropped", e.dropped_on
            case ev.MilestoneRecorded():
                self.milestones.append(e)
            case ev.CaseTransferred():
                self.transfers.append(e)
                self._assign(e)
            case ev.CasePaused():
                self.paused = e
                self.pauses.append(e)
            case ev.CaseResumed():
                self.paused = None
                self.pauses.append(e)
            case ev.CaseClosed():
                self.closure, self.paused, self.phase = e, None, Phase.CLOSED
        self.version += 1

    def _assign(self, e: ev.CaseOpened | ev.CaseTransferred) -> None:
        self.municipality, self.team = e.municipality, e.team
        self.team_organisation_id, self.case_manager_id = e.team_organisation_id, e.case_manager_id

    def _reach(self, phase: Phase) -> None:
        if phase.rank > self.phase.rank:
            self.phase = phase

    # -- facts the rules ask about ---------------------------------------------------------------
    @property
    def exists(self) -> bool:
        return self.opened is not None

    @property
    def client_id(self) -> str | None:
        return self.opened.client_id if self.opened else None

    @property
    def closed(self) -> bool:
        return self.closure is not None

    @property
    def next_review_on(self) -> date | None:
        return self.reviews[-1].next_review_on if self.reviews else None

    def valid_consent_on(self, day: date) -> bool:
        return any(c.valid_on(day) for c in self.consents.values())

    def goal_counts(self) -> tuple[int, int]:
        """(agreed over the whole case, achieved)."""
        return len(self.goals), sum(g.status == "achieved" for g in self.goals.values())

    # -- guards shared by the commands -----------------------------------------------------------
    def _open(self, doing: str) -> None:
        if self.closure is not None:
            raise RuleViolation(f"case {self.case_id} was closed on {self.closure.closed_on}: you cannot {doing}")

    def _active(self, doing: str) -> None:
        """Open, and its client not erased: only closure and consent withdrawal stay possible after an erasure."""
        self._open(doing)
        if self.client_erased_at is not None:
            raise RuleViolation(
                f"the client of case {self.case_id} was erased at {self.client_erased_at.isoformat()} (right to "
                f"erasure, Art. 17 GDPR): you cannot {doing}, as nothing new may be recorded about them; close the "
                f"case instead (POST /cases/{self.case_id}/closure)")

    def _working(self, doing: str) -> None:
        self._active(doing)
        if self.paused is not None:
            raise RuleViolation(f"case {self.case_id} is paused since {self.paused.paused_on}: resume it before you "
                                f"{doing}")

    def _not_before_opening(self, day: date, what: str) -> None:
        if self.opened.opened_on is not None and day < self.opened.opened_on:  # None: sealed, the client erased
            raise RuleViolation(f"{what} ({day}) cannot be before the case was opened ({self.opened.opened_on})")
