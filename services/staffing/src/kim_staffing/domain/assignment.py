"""Who manages a case, as decided in staffing (team leads reassign cases; the cases service names the first one)."""

from __future__ import annotations

from datetime import date

from kim_runtime.commands import Aggregate
from kim_runtime.errors import RuleViolation
from kim_schemas.staffing import CaseManagerAssigned


class CaseAssignment(Aggregate):
    def __init__(self, case_id: str):
        self.case_id = case_id
        self.version = 0
        self.staff_member_id: str | None = None

    def apply(self, event: CaseManagerAssigned) -> None:
        self.staff_member_id = event.staff_member_id
        self.version += 1

    def assign(self, staff_member_id: str, assigned_on: date, *, current: str | None,
               case_closed: bool) -> CaseManagerAssigned:
        """`current` is the manager as staffing knows it from all sources (cases events included)."""
        if case_closed:
            raise RuleViolation(f"case {self.case_id} is closed: a closed case gets no case manager")
        if current == staff_member_id:
            raise RuleViolation(f"{staff_member_id} already manages case {self.case_id}")
        return CaseManagerAssigned(case_id=self.case_id, staff_member_id=staff_member_id,
                                   previous_staff_member_id=current, assigned_on=assigned_on)
