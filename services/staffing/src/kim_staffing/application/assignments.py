"""Assigning case managers to cases; the caseload follows in the same transaction."""

from __future__ import annotations

from kim_runtime.commands import CommandContext, UnitOfWork
from kim_runtime.errors import NotFound, check_expected

from ..adapters import caseload_sql
from ..domain.assignment import CaseAssignment
from .caseload import reevaluate
from .commands import AssignCaseManager
from .repository import Repositories


class CaseManagers(Repositories):
    def __init__(self, store, *, limit_per_vza: int):
        super().__init__(store)
        self.limit_per_vza = limit_per_vza

    async def assign(self, ctx: CommandContext, case_id: str, cmd: AssignCaseManager,
                     seen: int | None) -> CaseAssignment:
        async with UnitOfWork(self.store) as uow:
            conn = uow.conn
            await caseload_sql.hold_live(conn)  # it writes the caseload policy's live tables
            known = await caseload_sql.case(conn, case_id)
            if known is None:
                raise NotFound(f"case {case_id} is not known to staffing (yet): it appears once the cases service "
                               "has published its CaseOpened; try again shortly")
            assignment = await self.assignments.load(case_id, uow)
            check_expected(case_id, seen, assignment.version)
            event = assignment.assign(cmd.staff_member_id, cmd.assigned_on, current=known["staff_member_id"],
                                      case_closed=known["status"] == "closed")
            expected = assignment.version
            [env] = await self.assignments.append(case_id, expected, assignment.emit(event), ctx, uow=uow,
                                                  municipality=known["municipality"])
            # the caseload follows at once; the same event, consumed from Kafka later, finds nothing to change
            touched = await caseload_sql.set_manager(conn, case_id, cmd.staff_member_id, env.time)
            for staff_member_id in sorted(touched):
                await reevaluate(conn, self.store, staff_member_id, limit_per_vza=self.limit_per_vza, ctx=ctx,
                                 at=env.time)
        return assignment
