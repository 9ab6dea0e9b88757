"""Caseload limits: a case manager may carry `limit_per_vza` active cases per full VZÄ they fill.

Crossing the limit upward yields CaseloadLimitExceeded, falling back to it yields CaseloadBackWithinLimit; staying on
one side yields nothing, so each crossing is announced exactly once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from kim_schemas.staffing import CaseloadBackWithinLimit, CaseloadLimitExceeded

FULL_TIME = Decimal(1)


def limit_for(share: Decimal, limit_per_vza: int) -> int:
    return math.floor(share * limit_per_vza)


@dataclass(frozen=True)
class Caseload:
    staff_member_id: str
    active_cases: int
    vza_share: Decimal
    over_limit: bool  # what was last announced

    def check(self, limit_per_vza: int, at: datetime) -> CaseloadLimitExceeded | CaseloadBackWithinLimit | None:
        limit = limit_for(self.vza_share, limit_per_vza)
        over = self.active_cases > limit
        if over == self.over_limit:
            return None
        kind = CaseloadLimitExceeded if over else CaseloadBackWithinLimit
        return kind(staff_member_id=self.staff_member_id, active_cases=self.active_cases, limit=limit,
                    vza_share=self.vza_share, detected_at=at)


def per_vza(active_cases: int, vza: Decimal) -> Decimal | None:
    """Active cases per filled VZÄ (None when nothing is filled)."""
    if vza <= 0:
        return None
    return (Decimal(active_cases) / vza).quantize(Decimal("0.01"))
