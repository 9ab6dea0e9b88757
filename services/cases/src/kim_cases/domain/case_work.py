"""Casework commands: assessment, residence status, Rechtskreis, integration plan, reviews, goals, milestones."""

from __future__ import annotations

from datetime import date

from kim_runtime.errors import NotFound, RuleViolation
from kim_schemas import cases as ev
from kim_schemas.base import Event
from kim_schemas.types import Encrypted


class WorkCommands:
    def complete_assessment(self, *, assessed_on: date, domains: list, rechtskreis) -> list[Event]:
        self._working("complete an assessment")
        self._not_before_opening(assessed_on, "assessed_on")
        self._needs_consent(assessed_on, "an assessment")
        if len({d.domain for d in domains}) != len(domains):
            raise RuleViolation("each life domain may be assessed once per assessment")
        return [ev.AssessmentCompleted(case_id=self.case_id, assessed_on=assessed_on, domains=domains,
                                       rechtskreis=rechtskreis)]

    def record_residence_status(self, *, status, status_since: date, valid_until: date | None, perspective,
                                recorded_on: date, dates: Encrypted) -> list[Event]:
        """``dates`` holds status_since and valid_until encrypted with the client's key; checked here in clear."""
        self._active("record a residence status")
        if status_since > recorded_on:
            raise RuleViolation(f"status_since ({status_since}) cannot be after recorded_on ({recorded_on})")
        if valid_until is not None and valid_until < status_since:
            raise RuleViolation(f"valid_until ({valid_until}) cannot be before status_since ({status_since})")
        return [ev.ResidenceStatusRecorded(case_id=self.case_id, status=status, perspective=perspective,
                                           recorded_on=recorded_on, dates=dates)]

    def change_rechtskreis(self, *, current, changed_on: date) -> list[Event]:
        self._active("change the Rechtskreis")
        self._not_before_opening(changed_on, "changed_on")
        if current == self.rechtskreis:
            raise RuleViolation(f"the Rechtskreis is {current} already")
        return [ev.RechtskreisChanged(case_id=self.case_id, previous=self.rechtskreis, current=current,
                                      changed_on=changed_on)]

    def agree_plan(self, *, plan_id: str, goals: list[ev.Goal], agreed_on: date) -> list[Event]:
        self._working("agree an integration plan")
        self._not_before_opening(agreed_on, "agreed_on")
        self._needs_consent(agreed_on, "an integration plan")
        if self.assessment is None:
            raise RuleViolation("an integration plan needs a completed assessment (Clearing) first")
        ids = [g.goal_id for g in goals]
        taken = sorted(set(ids) & set(self.goals)) or sorted({i for i in ids if ids.count(i) > 1})
        if taken:
            raise RuleViolation(f"goal id(s) {', '.join(taken)} are used already in this case: give each goal its own")
        return [ev.IntegrationPlanAgreed(case_id=self.case_id, plan_id=plan_id, goal_ids=ids, goals=goals,
                                         agreed_on=agreed_on)]

    def hold_review(self, *, review_id: str, held_on: date, notes: Encrypted | None,
                    next_review_on: date | None) -> list[Event]:
        self._working("hold a review")
        if not self.plans:
            raise RuleViolation("a review needs an agreed integration plan first")
        self._not_before_opening(held_on, "held_on")
        if next_review_on is not None and next_review_on <= held_on:
            raise RuleViolation(f"next_review_on ({next_review_on}) must be after held_on ({held_on})")
        return [ev.ReviewHeld(case_id=self.case_id, review_id=review_id, held_on=held_on, notes=notes,
                              next_review_on=next_review_on)]

    def achieve_goal(self, *, goal_id: str, achieved_on: date) -> list[Event]:
        self._open_goal(goal_id, "mark a goal achieved", achieved_on)
        return [ev.GoalAchieved(case_id=self.case_id, goal_id=goal_id, achieved_on=achieved_on)]

    def drop_goal(self, *, goal_id: str, reason, dropped_on: date) -> list[Event]:
        self._open_goal(goal_id, "drop a goal", dropped_on)
        return [ev.GoalDropped(case_id=self.case_id, goal_id=goal_id, reason=reason, dropped_on=dropped_on)]

    def record_milestone(self, *, milestone, reached_on: date, language_level=None) -> list[Event]:
        self._active("record a milestone")
        return [ev.MilestoneRecorded(case_id=self.case_id, milestone=milestone, reached_on=reached_on,
                                     language_level=language_level)]

    # -- guards ----------------------------------------------------------------------------------
    def _needs_consent(self, day: date, what: str) -> None:
        if not self.consents:
            raise RuleViolation(f"{what} needs the client's consent first: record it (POST .../consents)")
        if not self.valid_consent_on(day):
            raise RuleViolation(f"{what} needs a consent valid on {day}; every consent of this case is withdrawn or "
                                "expired then: record a new one")

    def _open_goal(self, goal_id: str, doing: str, day: date) -> None:
        self._active(doing)
        goal = self.goals.get(goal_id)
        if goal is None:
            raise NotFound(f"case {self.case_id} has no goal {goal_id}")
        if goal.status != "agreed":
            raise RuleViolation(f"goal {goal_id} was {goal.status} already on {goal.on}")
        self._not_before_opening(day, "the date")
