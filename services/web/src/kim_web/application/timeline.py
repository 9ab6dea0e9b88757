"""A case's history (GET /cases/{id}/history) as a German timeline: what happened, who did it, when."""

from __future__ import annotations

from dataclasses import dataclass

from . import labels as L
from .formats import de_date, de_datetime

EVENTS = {
    "ClientRegistered": "Klient/in registriert", "CaseOpened": "Fall eröffnet",
    "ConsentGranted": "Einwilligung erteilt", "ConsentWithdrawn": "Einwilligung widerrufen",
    "AssessmentCompleted": "Clearing abgeschlossen", "ResidenceStatusRecorded": "Aufenthaltsstatus erfasst",
    "RechtskreisChanged": "Rechtskreis geändert", "IntegrationPlanAgreed": "Hilfeplan vereinbart",
    "ReviewHeld": "Fallbesprechung", "GoalAchieved": "Ziel erreicht", "GoalDropped": "Ziel aufgegeben",
    "MilestoneRecorded": "Meilenstein erreicht", "CaseTransferred": "Fall übergeben", "CasePaused": "Fall pausiert",
    "CaseResumed": "Fall fortgesetzt", "CaseClosed": "Fall abgeschlossen", "ClientErased": "Daten gelöscht",
    "ConsentExpired": "Einwilligung abgelaufen", "ReviewDue": "Wiedervorlage: Fallbesprechung fällig",
    "PauseEndDue": "Wiedervorlage: geplantes Pausenende", "LegalHoldPlaced": "Aufbewahrungssperre gesetzt",
    "LegalHoldLifted": "Aufbewahrungssperre aufgehoben",
}


@dataclass(frozen=True)
class Entry:
    what: str
    detail: str
    who: str
    when: str
    time: str


def _detail(kind: str, d: dict) -> str:
    match kind:
        case "CaseOpened":
            return f"{L.label(L.MUNICIPALITIES, d.get('municipality'))}, Zugang: " \
                   f"{L.label(L.ACCESS_CHANNELS, d.get('access_channel'))}"
        case "ConsentGranted":
            return "für " + ", ".join(d.get("recipients", [])) + "; Zwecke: " + \
                ", ".join(L.label(L.PURPOSES, p) for p in d.get("purposes", []))
        case "ConsentWithdrawn":
            return L.label(L.WITHDRAWAL_SCOPES, d.get("scope")) + (
                f": {d['recipient']}" if d.get("recipient") else "") + (
                f": {L.label(L.DATA_CATEGORIES, d['data_category'])}" if d.get("data_category") else "")
        case "AssessmentCompleted":
            return f"Rechtskreis {L.label(L.RECHTSKREISE, d.get('rechtskreis'))}"
        case "ResidenceStatusRecorded":
            return (f"{L.label(L.RESIDENCE, d.get('status'))}, "
                    f"Perspektive {L.label(L.PERSPECTIVES, d.get('perspective'))}")
        case "RechtskreisChanged":
            return L.label(L.RECHTSKREISE, d.get("current"))
        case "IntegrationPlanAgreed":
            return ", ".join(f"{L.label(L.LIFE_DOMAINS, g.get('domain'))} bis {de_date(g.get('target_date'))}"
                             for g in d.get("goals", []))
        case "MilestoneRecorded":
            level = f" ({d['language_level']})" if d.get("language_level") else ""
            return L.label(L.MILESTONES, d.get("milestone")) + level
        case "GoalAchieved" | "GoalDropped":
            return str(d.get("goal_id", ""))
        case "CaseClosed":
            return L.label(L.CLOSURE_REASONS, d.get("reason"))
        case "CasePaused":
            return L.label(L.PAUSE_REASONS, d.get("reason"))
    return ""


def timeline(history: list[dict]) -> list[Entry]:
    """Newest first."""
    out = []
    for item in history:
        kind = str(item.get("type", "")).rsplit(".", 1)[-1]
        out.append(Entry(EVENTS.get(kind, kind), _detail(kind, item.get("data") or {}), item.get("actor") or "–",
                         de_datetime(item.get("time")), str(item.get("time", ""))))
    return sorted(out, key=lambda e: e.time, reverse=True)
