"""The grant (Zuwendungsbescheid): VZÄ the Land funds for one Baustein over a period, and what fits inside it."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from kim_runtime.commands import Aggregate
from kim_runtime.errors import RuleViolation
from kim_schemas.codes import Baustein
from kim_schemas.staffing import GrantAwarded

from .timeline import Load, Span, peak


class Grant(Aggregate):
    def __init__(self, grant_id: str):
        self.grant_id = grant_id
        self.version = 0
        self.awarded: GrantAwarded | None = None

    @staticmethod
    def award(grant_id: str, baustein: Baustein, period_from: date, period_to: date, vza: Decimal,
              rate_per_vza: Decimal, reference: str | None = None) -> GrantAwarded:
        if vza <= 0:
            raise RuleViolation("a grant must fund more than 0 VZÄ")
        return GrantAwarded(grant_id=grant_id, baustein=baustein, period_from=period_from, period_to=period_to,
                            vza=vza, rate_per_vza=rate_per_vza, reference=reference)

    def apply(self, event: GrantAwarded) -> None:
        self.awarded = event
        self.version += 1

    @property
    def exists(self) -> bool:
        return self.awarded is not None

    @property
    def period(self) -> Span:
        return Span.inclusive(self.awarded.period_from, self.awarded.period_to)

    def _describe(self) -> str:
        a = self.awarded
        return f"grant {self.grant_id} ({a.period_from} to {a.period_to})"

    def require_inside(self, what: str, day: date | None) -> None:
        """Dates must lie inside the grant's period."""
        if day is not None and not self.period.contains(day):
            raise RuleViolation(f"{what} {day} lies outside {self._describe()}: choose a date inside the period "
                                "or a grant that covers it")

    def admit(self, baustein: Baustein, funded: Span, vza: Decimal, already_funded: Iterable[Load]) -> None:
        """Refuse a position that does not fit: wrong Baustein, or more VZÄ on some day than the grant funds."""
        a = self.awarded
        if baustein != a.baustein:
            raise RuleViolation(f"{self._describe()} funds Baustein {a.baustein.value}, not Baustein {baustein.value}")
        busy = peak([*already_funded, (funded, vza)], self.period)
        if busy > a.vza:
            room = a.vza - peak(already_funded, funded.clip(self.period) or funded)
            raise RuleViolation(
                f"positions would take {busy} VZÄ of {self._describe()}, which funds {a.vza} VZÄ: "
                f"at most {max(room, Decimal(0))} VZÄ are free over those dates"
            )

    def annual_amount(self) -> Decimal:
        return (self.awarded.vza * self.awarded.rate_per_vza).quantize(Decimal("0.01"))
