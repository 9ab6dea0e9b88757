"""Which residence status changes count as improvements: a step up the ladder of security.

Ladder (domain.md): permission to stay or toleration → Chancen-Aufenthaltsrecht (§104c) → a lasting residence permit
(§25a, §25b, other) → settlement permit → naturalisation applied → naturalised.
"""

from __future__ import annotations

RANK: dict[str, int] = {
    "gestattung": 0,
    "duldung_60a": 0,
    "duldung_60c": 0,
    "duldung_60d": 0,
    "ae_104c": 1,
    "ae_25a": 2,
    "ae_25b": 2,
    "ae_other": 2,
    "niederlassungserlaubnis": 3,
    "einbuergerung_beantragt": 4,
    "eingebuergert": 5,
}

NATURALISED = "eingebuergert"
B1_PLUS = ("B1", "B2", "C1", "C2")


def is_improvement(previous: str | None, current: str) -> bool:
    return previous is not None and RANK.get(current, -1) > RANK.get(previous, 99)
