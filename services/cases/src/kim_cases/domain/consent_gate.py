"""The consent gate: does a client's consent (Einwilligung) cover a referral on a day? Pure rules, no I/O.

The cases service owns the consents, so it decides (GET /internal/cases/{id}/consent-decision, asked by the referrals
service when a referral is requested); the consents' dates never have to leave this service for it.

A consent names recipients × purposes × data categories; it holds from the day it was granted (granted_on) to its
last day (valid_until, if any). Withdrawal removes one recipient, one category, or everything. A referral is allowed
only on a consent that is in force on the day and covers its recipient, purpose and every data category it shares;
otherwise the gate names every condition that failed (of the consent named, or of the closest one).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date

from kim_schemas.case_codes import WithdrawalScope

from .consent import ConsentState


@dataclass(frozen=True)
class Consent:
    consent_id: str
    case_id: str
    recipients: frozenset[str]
    purposes: frozenset[str]
    data_categories: frozenset[str]
    granted_on: date
    valid_until: date | None = None
    withdrawn: bool = False
    withdrawn_recipients: frozenset[str] = frozenset()
    withdrawn_categories: frozenset[str] = frozenset()

    @classmethod
    def of(cls, state: ConsentState) -> Consent:
        """The gate's view of one consent of the ledger (as granted, with what was withdrawn beside it)."""
        g, ws = state.granted, state.withdrawals
        return cls(
            g.consent_id, g.case_id, frozenset(g.recipients), frozenset(p.value for p in g.purposes),
            frozenset(c.value for c in g.data_categories), granted_on=g.granted_on, valid_until=g.valid_until,
            withdrawn=any(w.scope is WithdrawalScope.ALL for w in ws),
            withdrawn_recipients=frozenset(w.recipient for w in ws if w.scope is WithdrawalScope.ONE_RECIPIENT),
            withdrawn_categories=frozenset(w.data_category.value for w in ws
                                           if w.scope is WithdrawalScope.ONE_CATEGORY),
        )

    def gaps(self, recipient: str, purpose: str, categories: Sequence[str], today: date) -> list[str]:
        """Every condition this consent fails for the referral today; empty when it covers it."""
        return [gap for gap in (*self._time_gaps(today), *self._scope_gaps(recipient, purpose, categories)) if gap]

    def _time_gaps(self, today: date) -> list[str]:
        c = self.consent_id
        return [
            self.granted_on > today and f"consent {c} takes effect only on {self.granted_on.isoformat()} "
                                        f"(granted_on lies after today, {today.isoformat()})",
            self.valid_until is not None and self.valid_until < today
            and f"consent {c} expired on {self.valid_until.isoformat()}",
            self.withdrawn and f"consent {c} was withdrawn",
        ]

    def _scope_gaps(self, recipient: str, purpose: str, categories: Sequence[str]) -> list[str]:
        c = self.consent_id
        withdrawn = sorted(set(categories) & self.withdrawn_categories)
        missing = sorted(set(categories) - self.data_categories)
        return [
            recipient in self.withdrawn_recipients and f"consent {c} was withdrawn for recipient {recipient}",
            recipient not in self.recipients and f"recipient {recipient} is not named in consent {c}",
            purpose not in self.purposes and f"purpose {purpose} is not covered by consent {c}",
            withdrawn and f"consent {c} was withdrawn for data {_categories(withdrawn)}",
            missing and f"data {_categories(missing)} not covered by consent {c}",
        ]

    def withdraw(self, scope: WithdrawalScope, recipient: str | None, category: str | None) -> Consent:
        if scope is WithdrawalScope.ONE_RECIPIENT:
            return replace(self, withdrawn_recipients=self.withdrawn_recipients | {recipient})
        if scope is WithdrawalScope.ONE_CATEGORY:
            return replace(self, withdrawn_categories=self.withdrawn_categories | {category})
        return replace(self, withdrawn=True)

    def granted(self) -> dict:
        """What the consent grants now (withdrawn parts left out), as the referrals service records it in
        kim.referrals.ConsentChecked."""
        return {
            "consent_id": self.consent_id,
            "categories_granted": sorted(self.data_categories - self.withdrawn_categories),
            "recipients_granted": sorted(self.recipients - self.withdrawn_recipients),
            "purposes_granted": sorted(self.purposes), "valid_from": self.granted_on,
            "valid_until": self.valid_until, "withdrawn": self.withdrawn,
        }


def _categories(names: list[str]) -> str:
    return f"categor{'y' if len(names) == 1 else 'ies'} {', '.join(names)}"


def choose_consent(
    consents: Sequence[Consent], *, case_id: str, recipient: str, purpose: str, categories: Sequence[str],
    today: date, consent_id: str | None = None,
) -> tuple[Consent | None, list[str]]:
    """The consent the referral rests on (the one named, or the first that covers it) and no reasons; or, when none
    covers it, the closest consent examined (None if there is none) and every condition it fails."""
    if consent_id is not None:
        candidates = [c for c in consents if c.consent_id == consent_id]
        if not candidates:
            return None, [f"consent {consent_id} is not known for case {case_id}"]
    else:
        candidates = list(consents)
    if not candidates:
        return None, [f"case {case_id} has no consent recorded"]
    gaps = {c.consent_id: c.gaps(recipient, purpose, categories, today) for c in candidates}
    for consent in candidates:
        if not gaps[consent.consent_id]:
            return consent, []
    closest = min(candidates, key=lambda c: len(gaps[c.consent_id]))
    return closest, gaps[closest.consent_id]
