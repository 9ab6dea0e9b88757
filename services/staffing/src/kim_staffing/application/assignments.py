"""Assigning case managers to cases; the caseload follows in the same transaction."""

from __future__ import annotations

from kim_runtime.errors import NotFound, check_expected
from kim_schemas.staffing import CaseManagerAssigned

from ..adapters import caseload_sql
from ..adapters.events import Context
from ..domain.assignment import CaseAssignment
from .caseload import reevaluate
from .commands import AssignCaseManager
from .repository import Repository


class CaseManagers(Repository):
    def __init__(self, pool, store, *, limit_per_vza: int):
        super().__init__(pool, store)
        self.limit_per_vza = limit_per_vza

    async def assign(self, ctx: Context, case_id: str, cmd: AssignCaseManager, seen: int | None) -> CaseAssignment:
        async with self.pool.acquire() as conn, conn.transaction():
            known = await caseload_sql.case(conn, case_id)
            if known is None:
                raise NotFound(f"case {case_id} is not known to staffing (yet): it appears once the cases service "
                               "has published its CaseOpened; try again shortly")
            assignment = await self.load(conn, CaseAssignment(case_id), case_id, (CaseManagerAssigned,))
            check_expected(case_id, seen, assignment.version)
            event = assignment.assign(cmd.staff_member_id, cmd.assigned_on, current=known["staff_member_id"],
                                      case_closed=known["status"] == "closed")
            env = await self.append(conn, assignment, event, ctx, known["municipality"])
            # the caseload follows at once; the same event, consumed from Kafka later, finds nothing to change
            touched = await caseload_sql.set_manager(conn, case_id, cmd.staff_member_id, env.time)
            for staff_member_id in sorted(touched):
                await reevaluate(conn, self.store, staff_member_id, limit_per_vza=self.limit_per_vza, ctx=ctx,
                                 at=env.time)
        return assignment
