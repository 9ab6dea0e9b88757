"""The consent gate's answer before a referral is sent, in German.

It applies the rules of the referrals service's gate (kim_referrals.domain.consent) to the consents that service
reports for the case (GET /cases/{id}/consents): a consent covers a referral when it is not withdrawn, not expired,
names the recipient and the purpose and every data category shared; without a named consent the first that
covers it is used, otherwise the closest one's gaps are shown. The referrals service still decides when the
referral is sent; a unit test runs both on the same matrix of cases so they cannot drift apart unnoticed.
"""

from __future__ import annotations

import re
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
        out.append(_categories(missing))
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


# The referrals service's 409 names each gap in English (kim_referrals.domain.consent); the same gaps in German.
_GAPS = [
    (re.compile(r"^consent \S+ was withdrawn$"), lambda m: "Die Einwilligung wurde widerrufen."),
    (re.compile(r"^consent \S+ expired on (\S+)$"), lambda m: f"Die Einwilligung ist am {de_date(m[1])} abgelaufen."),
    (re.compile(r"^recipient (\S+) is not named in consent \S+$"),
     lambda m: f"Die Empfängerin {m[1]} ist in der Einwilligung nicht genannt."),
    (re.compile(r"^purpose (\S+) is not covered by consent \S+$"),
     lambda m: f"Der Zweck „{label(PURPOSES, m[1])}“ ist nicht abgedeckt."),
    (re.compile(r"^data categor(?:y|ies) (.+) not covered by consent \S+$"), lambda m: _categories(m[1].split(", "))),
    (re.compile(r"^case \S+ has no consent recorded$"), lambda m: "Für diesen Fall ist keine Einwilligung erfasst."),
    (re.compile(r"^consent \S+ is not known for case \S+$"),
     lambda m: "Die gewählte Einwilligung ist für diesen Fall nicht bekannt."),
]


def _categories(missing: list[str]) -> str:
    names = ", ".join(label(DATA_CATEGORIES, c) for c in missing)
    return (f"Die Datenkategorie {names} ist nicht abgedeckt." if len(missing) == 1
            else f"Die Datenkategorien {names} sind nicht abgedeckt.")


def german(gap: str) -> str:
    """One gap of the service's 409 in German; one it does not know yet is shown as the service wrote it."""
    for pattern, say in _GAPS:
        if match := pattern.match(gap):
            return say(match)
    return gap
