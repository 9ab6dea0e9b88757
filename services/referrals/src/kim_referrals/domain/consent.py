"""The consent gate's answer, as the referrals service records it. The decision itself is the cases service's (it owns
the consents and their dates: kim_cases.domain.consent_gate, asked through adapters/cases_client.py); this module
turns its answer into kim.referrals.ConsentChecked or a refusal (409), and keeps what a withdrawal read from kim.cases
means for an open referral (scope only: event order decides, no dates are needed)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date

from kim_runtime.errors import RuleViolation
from kim_schemas.case_codes import WithdrawalScope
from kim_schemas.referrals import ConsentChecked


@dataclass(frozen=True)
class GateAnswer:
    """The cases service's decision: met or not, every reason, and what the consent examined grants (None: no
    consent was examined, e.g. the case has none)."""
    met: bool
    reasons: list[str]
    granted: dict | None

    @property
    def consent_id(self) -> str | None:
        return self.granted["consent_id"] if self.granted else None

    @property
    def valid_until(self) -> date | None:
        return self.granted.get("valid_until") if self.granted else None


@dataclass(frozen=True)
class Withdrawals:
    """What kim.cases said was withdrawn from (or ended) one consent, in event order: enough to tell whether an open
    referral resting on it is still covered, without any of the consent's dates."""
    withdrawn: bool = False
    expired: bool = False
    recipients: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()

    def withdraw(self, scope: WithdrawalScope, recipient: str | None, category: str | None) -> Withdrawals:
        if scope is WithdrawalScope.ONE_RECIPIENT:
            return replace(self, recipients=self.recipients | {recipient})
        if scope is WithdrawalScope.ONE_CATEGORY:
            return replace(self, categories=self.categories | {category})
        return replace(self, withdrawn=True)

    def gaps(self, consent_id: str, recipient: str, categories: Sequence[str]) -> list[str]:
        gone = sorted({getattr(c, "value", c) for c in categories} & self.categories)
        return [gap for gap in (
            self.withdrawn and f"consent {consent_id} was withdrawn",
            self.expired and f"consent {consent_id} expired",
            recipient in self.recipients and f"consent {consent_id} was withdrawn for recipient {recipient}",
            gone and f"consent {consent_id} was withdrawn for data {', '.join(gone)}",
        ) if gap]


class ConsentMissing(RuleViolation):
    """No valid consent covers the referral (HTTP 409 naming what is missing)."""

    def __init__(self, case_id: str, missing: list[str], granted: dict | None = None):
        self.case_id, self.missing, self.granted = case_id, missing, granted  # granted: the closest consent's
        super().__init__(
            f"no valid consent of case {case_id} covers this referral: {'; '.join(missing)}. "
            "Record a matching consent (Einwilligung) in the cases service, or change the referral, then try again."
        )

    slug, title = "consent-missing", "No consent covers this referral"

    def extensions(self) -> dict:
        return {"missing": self.missing}


def decision(
    granted: dict | None, *, request_id: str, referral_id: str | None, case_id: str, recipient: str, purpose: str,
    categories: Sequence[str], today: date, reasons: Sequence[str], checked_at,
) -> ConsentChecked:
    """The gate's decision as an event (kim.referrals.ConsentChecked): met when there are no reasons."""
    return ConsentChecked(request_id=request_id, referral_id=referral_id, case_id=case_id, recipient=recipient,
                          purpose=purpose, categories_required=sorted(categories), checked_on=today,
                          met=not reasons, reasons=list(reasons), checked_at=checked_at, **(granted or {}))
