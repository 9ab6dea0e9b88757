"""The consent gate: does a client's consent (Einwilligung) cover a referral today? Pure rules, no I/O.

A consent names recipients × purposes × data categories; it holds from the day it was granted (granted_on) to its
last day (valid_until, if any). Withdrawal removes one recipient, one category, or everything. A referral is allowed
only on a consent that is in force today and covers its recipient, purpose and every data category it shares;
otherwise the gate names every condition that failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date

from kim_runtime.errors import RuleViolation
from kim_schemas.case_codes import WithdrawalScope
from kim_schemas.referrals import ConsentChecked


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


def _categories(names: list[str]) -> str:
    return f"categor{'y' if len(names) == 1 else 'ies'} {', '.join(names)}"


class ConsentMissing(RuleViolation):
    """No valid consent covers the referral (HTTP 409 naming what is missing)."""

    def __init__(self, case_id: str, missing: list[str], consent: Consent | None = None):
        self.case_id, self.missing, self.consent = case_id, missing, consent  # consent: the closest one examined
        super().__init__(
            f"no valid consent of case {case_id} covers this referral: {'; '.join(missing)}. "
            "Record a matching consent (Einwilligung) in the cases service, or change the referral, then try again."
        )

    slug, title = "consent-missing", "No consent covers this referral"

    def extensions(self) -> dict:
        return {"missing": self.missing}


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
    raise ConsentMissing(case_id, gaps[closest.consent_id], closest)


def decision(
    consent: Consent | None, *, request_id: str, referral_id: str | None, case_id: str, recipient: str, purpose: str,
    categories: Sequence[str], today: date, reasons: Sequence[str], checked_at,
) -> ConsentChecked:
    """The gate's decision as an event (kim.referrals.ConsentChecked): met when there are no reasons."""
    granted = {} if consent is None else {
        "consent_id": consent.consent_id,
        "categories_granted": sorted(consent.data_categories - consent.withdrawn_categories),
        "recipients_granted": sorted(consent.recipients - consent.withdrawn_recipients),
        "purposes_granted": sorted(consent.purposes), "valid_from": consent.granted_on,
        "valid_until": consent.valid_until, "withdrawn": consent.withdrawn,
    }
    return ConsentChecked(request_id=request_id, referral_id=referral_id, case_id=case_id, recipient=recipient,
                          purpose=purpose, categories_required=sorted(categories), checked_on=today,
                          met=not reasons, reasons=list(reasons), checked_at=checked_at, **granted)
