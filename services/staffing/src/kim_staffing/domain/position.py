"""A position (Stelle): its size in VZÄ, its funding over time, and the staff members who fill shares of it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

from kim_runtime.commands import Aggregate
from kim_runtime.errors import RuleViolation
from kim_schemas.base import Event
from kim_schemas.staffing import (
    FundingSource,
    PositionEstablished,
    PositionFilled,
    PositionTransferred,
    PositionVacated,
    VacancyReason,
)

from .grant import Grant
from .timeline import Span, peak


@dataclass(frozen=True)
class Occupancy:
    """A staff member holding `share` VZÄ of the position over `span` (end None: still there)."""

    staff_member_id: str
    share: Decimal
    span: Span


class Position(Aggregate):
    def __init__(self, position_id: str):
        self.position_id = position_id
        self.version = 0
        self.established: PositionEstablished | None = None
        self.grant_id: str | None = None
        self.funded_from: date | None = None
        self.from_programme: str | None = None
        self.occupancies: list[Occupancy] = []

    # -- state -------------------------------------------------------------------------------------
    @property
    def exists(self) -> bool:
        return self.established is not None

    @property
    def span(self) -> Span:
        return Span.inclusive(self.established.valid_from, self.established.valid_to)

    @property
    def vza(self) -> Decimal:
        return self.established.vza

    def funded_span(self) -> Span | None:
        """When the position counts against its grant."""
        if self.grant_id is None:
            return None
        return Span(self.funded_from, self.span.end)

    def current(self, staff_member_id: str) -> Occupancy | None:
        return next((o for o in self.occupancies if o.staff_member_id == staff_member_id and o.span.end is None), None)

    def filled_on(self, day: date) -> Decimal:
        return sum((o.share for o in self.occupancies if o.span.contains(day)), Decimal(0))

    def apply(self, event: Event) -> None:
        match event:
            case PositionEstablished():
                self.established = event
                self.grant_id, self.funded_from = event.grant_id, event.valid_from
            case PositionTransferred():
                self.grant_id, self.funded_from = event.grant_id, event.transferred_on
                self.from_programme = event.from_programme
            case PositionFilled():
                self.occupancies.append(Occupancy(event.staff_member_id, event.vza_share, Span(event.filled_on)))
            case PositionVacated():
                held = self.current(event.staff_member_id)
                i = self.occupancies.index(held)
                self.occupancies[i] = replace(held, span=Span(held.span.start, event.vacated_on))
                if event.vza_share < held.share:
                    self.occupancies.append(Occupancy(held.staff_member_id, held.share - event.vza_share,
                                                      Span(event.vacated_on)))
        self.version += 1

    # -- decisions ---------------------------------------------------------------------------------
    def transfer(self, from_programme: str, grant: Grant | None, transferred_on: date) -> PositionTransferred:
        """A position of an expiring programme is taken over (into a KIM grant, when one is named)."""
        if self.grant_id is not None:
            raise RuleViolation(f"position {self.position_id} is already funded by grant {self.grant_id}")
        if not self.span.contains(transferred_on):
            raise RuleViolation(f"transferred_on {transferred_on} lies outside the position's validity "
                                f"({self.established.valid_from} to {self.established.valid_to or 'open'})")
        if grant is not None:
            grant.require_inside("transferred_on", transferred_on)
            grant.require_inside("the position's valid_to", self.established.valid_to)
        return PositionTransferred(position_id=self.position_id, from_programme=from_programme,
                                   grant_id=grant.grant_id if grant else None, transferred_on=transferred_on)

    def fill(self, staff_member_id: str, share: Decimal, filled_on: date, grant: Grant | None) -> PositionFilled:
        if share <= 0:
            raise RuleViolation("vza_share must be more than 0")
        if not self.span.contains(filled_on):
            raise RuleViolation(f"filled_on {filled_on} lies outside the position's validity "
                                f"({self.established.valid_from} to {self.established.valid_to or 'open'})")
        if grant is not None and filled_on >= self.funded_from:
            grant.require_inside("filled_on", filled_on)
        if self.current(staff_member_id) is not None:
            raise RuleViolation(f"staff member {staff_member_id} already fills this position: vacate that share "
                                "first to change it")
        busy = peak([(o.span, o.share) for o in self.occupancies], Span(filled_on, self.span.end))
        if busy + share > self.vza:
            raise RuleViolation(
                f"position {self.position_id} has {self.vza} VZÄ and {busy} are filled on some day from "
                f"{filled_on}: at most {max(self.vza - busy, Decimal(0))} VZÄ can be filled"
            )
        return PositionFilled(position_id=self.position_id, staff_member_id=staff_member_id, vza_share=share,
                              filled_on=filled_on)

    def vacate(self, staff_member_id: str, share: Decimal | None, vacated_on: date,
               reason: VacancyReason) -> PositionVacated:
        held = self.current(staff_member_id)
        if held is None:
            raise RuleViolation(f"staff member {staff_member_id} does not fill position {self.position_id}")
        share = held.share if share is None else share
        if not Decimal(0) < share <= held.share:
            raise RuleViolation(f"vza_share must be more than 0 and at most the {held.share} VZÄ held")
        if vacated_on <= held.span.start:
            raise RuleViolation(f"vacated_on {vacated_on} must be after the day the share was filled "
                                f"({held.span.start})")
        return PositionVacated(position_id=self.position_id, staff_member_id=staff_member_id, vza_share=share,
                               vacated_on=vacated_on, reason=reason)


def establish(position_id: str, *, grant: Grant | None, **fields) -> PositionEstablished:
    """The PositionEstablished event, after checking funding source and grant dates (capacity: Grant.admit)."""
    event = PositionEstablished(position_id=position_id, grant_id=grant.grant_id if grant else None, **fields)
    if event.vza <= 0:
        raise RuleViolation("a position must have more than 0 VZÄ")
    if event.valid_to is not None and event.valid_to < event.valid_from:
        raise RuleViolation("valid_to is before valid_from")
    if (grant is not None) != (event.funding_source is FundingSource.KIM_GRANT):
        raise RuleViolation("a position funded by the KIM grant (funding_source kim_land) names its grant_id, "
                            "and only such a position does")
    if grant is not None:
        grant.require_inside("valid_from", event.valid_from)
        grant.require_inside("valid_to", event.valid_to)
    return event


POSITION_EVENTS = (PositionEstablished, PositionTransferred, PositionFilled, PositionVacated)
