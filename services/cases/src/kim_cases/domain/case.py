"""The Case aggregate: lifecycle commands here; consent and casework commands in their own modules."""

from __future__ import annotations

from datetime import date

from kim_runtime.errors import RuleViolation
from kim_schemas import cases as ev
from kim_schemas.base import Event
from kim_schemas.case_codes import ClosureReason, PauseReason

from kim_cases.domain.case_consent import ConsentCommands
from kim_cases.domain.case_state import CaseState, Phase
from kim_cases.domain.case_work import WorkCommands

__all__ = ["Case", "Phase", "follow_up_stream"]


def follow_up_stream(case_id: str) -> str:
    """Where a case's follow-ups go: a stream of their own, so a reminder never changes the case's version."""
    return f"wv-{case_id}"


class Case(ConsentCommands, WorkCommands, CaseState):
    def open(self, **fields) -> list[Event]:
        """Intake: fields of CaseOpened except case_id (client checks are the handler's: it loads the client)."""
        if self.exists:
            raise RuleViolation(f"case {self.case_id} exists already")
        return [ev.CaseOpened(case_id=self.case_id, **fields)]

    def transfer(self, *, municipality: str, team: str, team_organisation_id: str, case_manager_id: str,
                 transferred_on: date) -> list[Event]:
        self._active("transfer it")
        self._not_before_opening(transferred_on, "transferred_on")
        if (municipality, team, team_organisation_id, case_manager_id) == (
                self.municipality, self.team, self.team_organisation_id, self.case_manager_id):
            raise RuleViolation("the case is already with that municipality, team and case manager: nothing to transfer")
        return [ev.CaseTransferred(case_id=self.case_id, municipality=municipality, team=team,
                                   team_organisation_id=team_organisation_id, case_manager_id=case_manager_id,
                                   transferred_on=transferred_on)]

    def pause(self, *, reason: PauseReason, paused_on: date, expected_resume_on: date | None) -> list[Event]:
        self._working("pause it")
        self._not_before_opening(paused_on, "paused_on")
        if expected_resume_on is not None and expected_resume_on <= paused_on:
            raise RuleViolation(f"expected_resume_on ({expected_resume_on}) must be after paused_on ({paused_on})")
        return [ev.CasePaused(case_id=self.case_id, reason=reason, paused_on=paused_on,
                              expected_resume_on=expected_resume_on)]

    def resume(self, *, resumed_on: date) -> list[Event]:
        self._active("resume it")
        if self.paused is None:
            raise RuleViolation(f"case {self.case_id} is not paused: there is nothing to resume")
        if resumed_on < self.paused.paused_on:
            raise RuleViolation(f"resumed_on ({resumed_on}) cannot be before the pause began ({self.paused.paused_on})")
        return [ev.CaseResumed(case_id=self.case_id, resumed_on=resumed_on)]

    def close(self, *, reason: ClosureReason, closed_on: date) -> list[Event]:
        self._open("close it again")
        self._not_before_opening(closed_on, "closed_on")
        agreed, achieved = self.goal_counts()
        return [ev.CaseClosed(case_id=self.case_id, reason=reason, closed_on=closed_on, goals_agreed=agreed,
                              goals_achieved=achieved, duration_days=self._days_open(closed_on))]

    def _days_open(self, closed_on: date) -> int:
        """Days from opening to closure; 0 when the opening date is sealed for good (the client was erased: the
        closure is then sealed under a key that is never kept, so the figure is never read)."""
        opened_on = self.opened.opened_on
        return 0 if opened_on is None else (closed_on - opened_on).days

    # -- follow-ups (Wiedervorlage), fired by the scheduler on their day ---------------------------
    def review_falls_due(self, due_on: date) -> list[Event]:
        """ReviewDue, if the case is open and its last review still plans the next one for that day."""
        if self.closed or self.next_review_on != due_on:
            return []
        return [ev.ReviewDue(follow_up_id=follow_up_stream(self.case_id), case_id=self.case_id, due_on=due_on)]

    def pause_end_falls_due(self, due_on: date) -> list[Event]:
        """PauseEndDue, if the case is still paused with that planned end."""
        if self.paused is None or self.paused.expected_resume_on != due_on:
            return []
        return [ev.PauseEndDue(follow_up_id=follow_up_stream(self.case_id), case_id=self.case_id, due_on=due_on)]
