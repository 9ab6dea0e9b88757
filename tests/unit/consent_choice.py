"""The cases service's choice of a consent for a referral, raised as the referrals service raises a refusal (409):
the one helper the consent gate's and the recorded decision's unit tests share."""

from __future__ import annotations

from kim_cases.domain import consent_gate
from kim_referrals.domain.consent import ConsentMissing


def choose_consent(consents, **ask):
    chosen, reasons = consent_gate.choose_consent(consents, **ask)
    if reasons:
        raise ConsentMissing(ask["case_id"], reasons, chosen.granted() if chosen else None)
    return chosen
