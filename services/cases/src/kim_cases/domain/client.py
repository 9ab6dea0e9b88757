"""The Client aggregate: registered with encrypted personal data; erasable (crypto-shredding)."""

from __future__ import annotations

from datetime import datetime

from kim_runtime.commands import Aggregate
from kim_runtime.errors import RuleViolation
from kim_schemas.case_codes import LegalHoldReason
from kim_schemas.cases import ClientErased, ClientRegistered, LegalHoldLifted, LegalHoldPlaced
from kim_schemas.codes import ErasureReason
from kim_schemas.base import Event
from kim_schemas.types import Encrypted


class Client(Aggregate):
    def __init__(self, client_id: str):
        self.client_id = client_id
        self.version = 0
        self.registered: ClientRegistered | None = None
        self.erased_at: datetime | None = None
        self.holds: dict[str, LegalHoldPlaced] = {}  # legal holds in force, by hold id
        self.lifted_holds: list[LegalHoldLifted] = []

    def apply(self, event: Event) -> None:
        if isinstance(event, ClientRegistered):
            self.registered = event
        elif isinstance(event, ClientErased):
            self.erased_at = event.erased_at
        elif isinstance(event, LegalHoldPlaced):
            self.holds[event.hold_id] = event
        elif isinstance(event, LegalHoldLifted):
            self.holds.pop(event.hold_id, None)
            self.lifted_holds.append(event)
        self.version += 1

    @property
    def exists(self) -> bool:
        return self.registered is not None

    @property
    def erased(self) -> bool:
        return self.erased_at is not None

    @property
    def key_id(self) -> str | None:
        return self.registered.personal.key_id if self.registered else None

    # -- commands --------------------------------------------------------------------------------
    def register(self, personal: Encrypted, profile: Encrypted) -> list[Event]:
        """``profile`` holds birth year, languages and arrival year encrypted; nothing of them goes in clear."""
        if self.exists:
            raise RuleViolation(f"client {self.client_id} is registered already")
        return [ClientRegistered(client_id=self.client_id, personal=personal, profile=profile)]

    def erase(self, at: datetime, *, ground: str, reason: ErasureReason = ErasureReason.REQUEST) -> list[Event]:
        """The request's reference is not part of the event (the application keeps it in the store)."""
        self.ensure_active("erase them again")
        return [ClientErased(client_id=self.client_id, key_id=self.key_id, erased_at=at, ground=ground,
                             reason=reason)]

    def place_hold(self, hold_id: str, *, reason: LegalHoldReason, reference: str, by: str,
                   at: datetime) -> list[Event]:
        self.ensure_active("place a legal hold on their data")
        return [LegalHoldPlaced(client_id=self.client_id, hold_id=hold_id, reason=reason, reference=reference,
                                placed_by=by, placed_at=at)]

    def lift_hold(self, hold_id: str, *, by: str, at: datetime) -> list[Event]:
        if hold_id not in self.holds:
            raise RuleViolation(f"client {self.client_id} has no legal hold {hold_id} in force")
        return [LegalHoldLifted(client_id=self.client_id, hold_id=hold_id, lifted_by=by, lifted_at=at)]

    def hold_views(self) -> list[dict]:
        """The holds in force; a reference still sealed (its key destroyed) shows as "erased"."""
        return [{"hold_id": h.hold_id, "reason": h.reason.value,
                 "reference": "erased" if h.is_sealed else h.reference, "placed_by": h.placed_by,
                 "placed_at": h.placed_at.isoformat()} for h in self.holds.values()]

    def ensure_active(self, doing: str) -> None:
        if self.erased:
            raise RuleViolation(
                f"client {self.client_id} was erased at {self.erased_at.isoformat()}: you cannot {doing}")
