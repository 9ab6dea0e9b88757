"""The consent gate: does a client's consent (Einwilligung) cover a referral? Pure rules, no I/O.

A consent names recipients × purposes × data categories and may end on a date. Withdrawal removes one
recipient, one category, or everything. A referral is allowed only on a consent that covers its recipient,
purpose and every data category it shares; otherwise the gate names exactly what is missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date

from kim_runtime.errors import RuleViolation
from kim_schemas.case_codes import WithdrawalScope


@dataclass(frozen=True)
class Consent:
    consent_id: str
    case_id: str
    recipients: frozenset[str]
    purposes: frozenset[str]
    data_categories: frozenset[str]
    valid_until: date | None = None
    withdrawn: bool = False

    def gaps(self, recipient: str, purpose: str, categories: Sequence[str], today: date) -> list[str]:
        """What this consent lacks for the referral; empty when it covers it."""
        if self.withdrawn:
            return [f"consent {self.consent_id} was withdrawn"]
        gaps = []
        if self.valid_until is not None and self.valid_until < today:
            gaps.append(f"consent {self.consent_id} expired on {self.valid_until.isoformat()}")
        if recipient not in self.recipients:
            gaps.append(f"recipient {recipient} is not named in consent {self.consent_id}")
        if purpose not in self.purposes:
            gaps.append(f"purpose {purpose} is not covered by consent {self.consent_id}")
        missing = sorted(set(categories) - self.data_categories)
        if missing:
            gaps.append(f"data categor{'y' if len(missing) == 1 else 'ies'} {', '.join(missing)} "
                        f"not covered by consent {self.consent_id}")
        return gaps

    def withdraw(self, scope: WithdrawalScope, recipient: str | None, category: str | None) -> Consent:
        if scope is WithdrawalScope.ONE_RECIPIENT:
            return replace(self, recipients=self.recipients - {recipient})
        if scope is WithdrawalScope.ONE_CATEGORY:
            return replace(self, data_categories=self.data_categories - {category})
        return replace(self, withdrawn=True)


class ConsentMissing(RuleViolation):
    """No valid consent covers the referral (HTTP 409 naming what is missing)."""

    def __init__(self, case_id: str, missing: list[str]):
        self.case_id, self.missing = case_id, missing
        super().__init__(
            f"no valid consent of case {case_id} covers this referral: {'; '.join(missing)}. "
            "Record a matching consent (Einwilligung) in the cases service, or change the referral, then try again."
        )


def choose_consent(
    consents: Sequence[Consent], *, case_id: str, recipient: str, purpose: str, categories: Sequence[str],
    today: date, consent_id: str | None = None,
) -> Consent:
    """The consent the referral rests on: the one named, or the first that covers it. Raises ConsentMissing."""
    if consent_id is not None:
        named = [c for c in consents if c.consent_id == consent_id]
        if not named:
            raise ConsentMissing(case_id, [f"consent {consent_id} is not known for case {case_id}"])
        candidates = named
    else:
        candidates = list(consents)
    if not candidates:
        raise ConsentMissing(case_id, [f"case {case_id} has no consent recorded"])
    gaps = {c.consent_id: c.gaps(recipient, purpose, categories, today) for c in candidates}
    for consent in candidates:
        if not gaps[consent.consent_id]:
            return consent
    closest = min(candidates, key=lambda c: len(gaps[c.consent_id]))
    raise ConsentMissing(case_id, gaps[closest.consent_id])
