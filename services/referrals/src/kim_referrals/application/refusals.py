"""Why a case takes no referral: unknown to this service, its client erased, or closed. Each refusal says what to do."""

from __future__ import annotations

import asyncpg
from kim_runtime.errors import NotFound, RuleViolation

from ..adapters import gate_sql


class ErasedClient(RuleViolation):
    """The case's client was erased (right to erasure): nothing more may be shared about them (HTTP 409)."""


async def referable_case(conn: asyncpg.Connection, case_id: str, gate=gate_sql) -> asyncpg.Record:
    """The case as the gate knows it, locked FOR SHARE with its client's row, so a withdrawal, a closure or an
    erasure handled at the same moment either waits for this request (and then revokes what it made) or is seen."""
    case = await gate.lock_case(conn, case_id)
    if case is None:
        raise NotFound(f"case {case_id} is not known to the referrals service (no CaseOpened seen yet); "
                       "check the id, or retry in a moment if the case was just opened")
    erased_at = await gate.client_erased_at(conn, case["client_id"])
    if erased_at is not None:
        raise ErasedClient(f"the client of case {case_id} was erased on {erased_at.date().isoformat()} (right to "
                           "erasure, Art. 17 GDPR): no referral can be made for them and nothing about them is "
                           "shared any more; close the case in the cases service")
    if case["closed_on"] is not None:
        raise RuleViolation(f"case {case_id} was closed on {case['closed_on'].isoformat()}: a closed case takes no "
                            "referrals")
    return case
