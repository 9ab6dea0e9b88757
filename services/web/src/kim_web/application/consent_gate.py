"""The consent gate's answer before a referral is sent, in German.

It applies the rules of the gate (kim_cases.domain.consent_gate, which the cases service applies when the referrals
service asks it) to the consents the referrals service reports for the case (GET /cases/{id}/consents: scope and
withdrawals) with their dates from the case view of the cases service: a consent covers a referral on a day inside its validity window
(granted_on .. valid_until), when it is not withdrawn (as a whole, for the recipient, for a category shared), names
the recipient and the purpose and every data category shared; without a named consent the first that covers it is
used, otherwise the closest one's gaps are shown. The cases service still decides when the
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
    """Every condition one consent fails for the referral today, in German (the gate's order); empty: it covers it."""
    who = recipient_name or recipient
    granted, until = _day(consent.get("granted_on")), _day(consent.get("valid_until"))
    withdrawn = sorted(set(categories) & set(consent.get("withdrawn_categories") or []))
    missing = sorted(set(categories) - set(consent.get("data_categories", [])))
    return [gap for gap in (
        granted is not None and granted > today and f"Die Einwilligung gilt erst ab dem {de_date(granted)}.",
        until is not None and until < today and f"Die Einwilligung ist am {de_date(until)} abgelaufen.",
        bool(consent.get("withdrawn_at")) and "Die Einwilligung wurde widerrufen.",
        recipient in (consent.get("withdrawn_recipients") or [])
        and f"Die Einwilligung wurde für die Empfängerin {who} widerrufen.",
        recipient not in consent.get("recipients", [])
        and f"Die Empfängerin {who} ist in der Einwilligung nicht genannt.",
        purpose not in consent.get("purposes", []) and f"Der Zweck „{label(PURPOSES, purpose)}“ ist nicht abgedeckt.",
        withdrawn and f"Die Einwilligung wurde für {_names(withdrawn)} widerrufen.",
        missing and _categories(missing),
    ) if gap]


def _day(value) -> date | None:
    """A day, or None (none given, or "erased": an erased client's sealed dates)."""
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


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
    (re.compile(r"^consent \S+ takes effect only on (\S+) \(.*\)$"),
     lambda m: f"Die Einwilligung gilt erst ab dem {de_date(m[1])}."),
    (re.compile(r"^consent \S+ was withdrawn$"), lambda m: "Die Einwilligung wurde widerrufen."),
    (re.compile(r"^consent \S+ was withdrawn for recipient (\S+)$"),
     lambda m: f"Die Einwilligung wurde für die Empfängerin {m[1]} widerrufen."),
    (re.compile(r"^consent \S+ was withdrawn for data categor(?:y|ies) (.+)$"),
     lambda m: f"Die Einwilligung wurde für {_names(m[1].split(', '))} widerrufen."),
    (re.compile(r"^consent \S+ expired on (\S+)$"), lambda m: f"Die Einwilligung ist am {de_date(m[1])} abgelaufen."),
    (re.compile(r"^recipient (\S+) is not named in consent \S+$"),
     lambda m: f"Die Empfängerin {m[1]} ist in der Einwilligung nicht genannt."),
    (re.compile(r"^purpose (\S+) is not covered by consent \S+$"),
     lambda m: f"Der Zweck „{label(PURPOSES, m[1])}“ ist nicht abgedeckt."),
    (re.compile(r"^data categor(?:y|ies) (.+) not covered by consent \S+$"),
     lambda m: _categories(m[1].split(", "))),
    (re.compile(r"^case \S+ has no consent recorded$"), lambda m: "Für diesen Fall ist keine Einwilligung erfasst."),
    (re.compile(r"^consent \S+ is not known for case \S+$"),
     lambda m: "Die gewählte Einwilligung ist für diesen Fall nicht bekannt."),
]


def _names(categories: list[str]) -> str:
    names = ", ".join(label(DATA_CATEGORIES, c) for c in categories)
    return f"die Datenkategorie{'' if len(categories) == 1 else 'n'} {names}"


def _categories(missing: list[str]) -> str:
    text = _names(missing)
    return f"{text[0].upper()}{text[1:]} {'ist' if len(missing) == 1 else 'sind'} nicht abgedeckt."


def german(gap: str) -> str:
    """One gap of the service's 409 in German; one it does not know yet is shown as the service wrote it."""
    for pattern, say in _GAPS:
        if match := pattern.match(gap):
            return say(match)
    return gap
