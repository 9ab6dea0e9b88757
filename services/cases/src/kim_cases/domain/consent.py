"""One consent of the ledger: what it covers now, after partial withdrawals, and whether it is valid on a day."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from kim_schemas.case_codes import WithdrawalScope
from kim_schemas.cases import ConsentExpired, ConsentGranted, ConsentWithdrawn


ERASED = "erased"  # a sealed field whose key is destroyed


def sealed_view(event, exclude: frozenset[str] = frozenset({"case_id"})) -> dict:
    """An event as shown: its fields, and "erased" for each sealed field that stays sealed (the client was erased;
    kim_schemas.sealing); the ciphertext itself is never shown."""
    view = event.model_dump(mode="json", exclude=set(exclude))
    view.pop("sealed", None)
    if getattr(event, "is_sealed", False):
        view |= dict.fromkeys(event.sealed_fields, ERASED)
    return view


@dataclass
class ConsentState:
    granted: ConsentGranted
    recipients: list[str] = field(default_factory=list)
    data_categories: list[str] = field(default_factory=list)
    withdrawn_at: datetime | None = None
    withdrawals: list[ConsentWithdrawn] = field(default_factory=list)
    expired_at: datetime | None = None

    @classmethod
    def of(cls, event: ConsentGranted) -> ConsentState:
        return cls(event, list(event.recipients), [c.value for c in event.data_categories])

    @property
    def consent_id(self) -> str:
        return self.granted.consent_id

    def withdraw(self, event: ConsentWithdrawn) -> None:
        self.withdrawals.append(event)
        if event.scope is WithdrawalScope.ONE_RECIPIENT and event.recipient in self.recipients:
            self.recipients.remove(event.recipient)
        elif event.scope is WithdrawalScope.ONE_CATEGORY and event.data_category in self.data_categories:
            self.data_categories.remove(event.data_category.value)
        if event.scope is WithdrawalScope.ALL or not self.recipients or not self.data_categories:
            self.withdrawn_at = event.effective_at
            self.recipients, self.data_categories = [], []

    def expire(self, event: ConsentExpired) -> None:
        self.expired_at = event.expired_at

    def status(self, on: date) -> str:
        """active, withdrawn, expired or pending (granted for a later day)."""
        if self.granted.is_sealed:  # its dates are sealed for good: the client was erased
            return "erased"
        if self.withdrawn_at is not None:
            return "withdrawn"
        if self.granted.valid_until is not None and on > self.granted.valid_until:  # ConsentExpired records it
            return "expired"
        if on < self.granted.granted_on:
            return "pending"
        return "active"

    def valid_on(self, on: date) -> bool:
        return self.status(on) == "active"

    def covers(self, recipient: str, purpose: str, category: str, on: date) -> bool:
        return (self.valid_on(on) and recipient in self.recipients and category in self.data_categories
                and purpose in {p.value for p in self.granted.purposes})

    def view(self, on: date, *, erased: bool = False) -> dict:
        """The consent as shown; a consent of an erased client ended with the erasure (status `erased`), and the
        language the client was informed in is no longer shown."""
        g = self.granted
        view = {
            "consent_id": g.consent_id, "case_id": g.case_id, "status": "erased" if erased else self.status(on),
            "recipients": self.recipients, "purposes": [p.value for p in g.purposes],
            "data_categories": self.data_categories, "special_categories": g.special_categories,
            "form": g.form.value if g.form else ERASED, "informed_in": g.informed_in,
            "granted_on": g.granted_on.isoformat() if g.granted_on else ERASED,
            "valid_until": g.valid_until.isoformat() if g.valid_until else (ERASED if g.is_sealed else None),
            "recorded_by": g.recorded_by,
            "withdrawn_at": self.withdrawn_at.isoformat() if self.withdrawn_at else None,
            "expired_at": self.expired_at.isoformat() if self.expired_at else None,
            "withdrawals": [sealed_view(w) for w in self.withdrawals],
        }
        return view | {"informed_in": "erased"} if erased else view
