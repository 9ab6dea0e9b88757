"""The consent gate's answer before a referral is sent, in German.

It applies the rules of the referrals service's gate (kim_referrals.domain.consent) to the consents that service
reports for the case (GET /cases/{id}/consents): a consent covers a referral when it is not withdrawn, not expired,
names the recipient and the purpose and every data category shared; without a named consent the first that
covers it is used, otherwise the closest one's gaps are shown. The referrals service still decides when the
referral is sent; a unit test runs both on the same matrix of cases so they cannot drift apart unnoticed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from .formats import de_date
from .labels import DATA_CATEGORIES, PURPOSES, label


@dataclass(frozen=True)
class GateAnswer:
    covered: bool
    consent_id: str | None = None
    missing: list[str] = field(default_factory=list)


def gaps(consent: dict, recipient: str, purpose: str, categories: Sequence[str], today: date,
         recipient_name: str | None = None) -> list[str]:
    """What one consent lacks for the referral, in German; empty when it covers it."""
    if consent.get("withdrawn_at"):
        return ["Die Einwilligung wurde widerrufen."]
    out = []
    until = consent.get("valid_until")
    if until and date.fromisoformat(str(until)[:10]) < today:
        out.append(f"Die Einwilligung ist am {de_date(until)} abgelaufen.")
    if recipient not in consent.get("recipients", []):
        out.append(f"Die Empfängerin {recipient_name or recipient} ist in der Einwilligung nicht genannt.")
    if purpose not in consent.get("purposes", []):
        out.append(f"Der Zweck „{label(PURPOSES, purpose)}“ ist nicht abgedeckt.")
    missing = sorted(set(categories) - set(consent.get("data_categories", [])))
    if missing:
        names = ", ".join(label(DATA_CATEGORIES, c) for c in missing)
        out.append(f"{'Die Datenkategorie' if len(missing) == 1 else 'Die Datenkategorien'} {names} "
                   f"{'ist' if len(missing) == 1 else 'sind'} nicht abgedeckt.")
    return out


def check(consents: Sequence[dict], *, recipient: str, purpose: str, categories: Sequence[str], today: date,
          consent_id: str | None = None, recipient_name: str | None = None) -> GateAnswer:
    """The gate's answer: the consent the referral would rest on, or what is missing."""
    candidates = [c for c in consents if c["consent_id"] == consent_id] if consent_id else list(consents)
    if consent_id and not candidates:
        return GateAnswer(False, missing=["Die gewählte Einwilligung ist für diesen Fall nicht bekannt."])
    if not candidates:
        return GateAnswer(False, missing=["Für diesen Fall ist keine Einwilligung erfasst."])
    found = {c["consent_id"]: gaps(c, recipient, purpose, categories, today, recipient_name) for c in candidates}
    for consent in candidates:
        if not found[consent["consent_id"]]:
            return GateAnswer(True, consent["consent_id"])
    closest = min(candidates, key=lambda c: len(found[c["consent_id"]]))
    return GateAnswer(False, closest["consent_id"], found[closest["consent_id"]])
