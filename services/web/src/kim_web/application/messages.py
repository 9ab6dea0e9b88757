"""What a page says when a service refused: German messages for the status codes, and per form field for a 422.

The services' own reasons are English; a page shows its German sentence first and the service's reason beside it,
so nothing the service said is lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..adapters.transport import ApiError
from .consent_gate import german

SERVICES = {"cases": "Fallverwaltung", "staffing": "Personalplanung", "referrals": "Vermittlungen",
            "reporting": "Berichtswesen"}
FIELD_TYPES = {
    "missing": "Bitte ausfüllen.",
    "string_too_short": "Bitte ausfüllen.",
    "too_short": "Bitte mindestens einen Eintrag wählen.",
    "string_too_long": "Der Text ist zu lang.",
    "string_pattern_mismatch": "Das Format stimmt nicht.",
    "enum": "Bitte einen der angebotenen Werte wählen.",
    "literal_error": "Bitte einen der angebotenen Werte wählen.",
    "date_from_datetime_parsing": "Bitte ein Datum angeben (TT.MM.JJJJ).",
    "date_parsing": "Bitte ein Datum angeben (TT.MM.JJJJ).",
    "date_type": "Bitte ein Datum angeben (TT.MM.JJJJ).",
    "int_parsing": "Bitte eine ganze Zahl angeben.",
    "greater_than_equal": "Der Wert ist zu klein.",
    "less_than_equal": "Der Wert ist zu groß.",
    "extra_forbidden": "Dieses Feld kennt der Dienst nicht.",
    "value_error": "Die Angabe passt nicht.",
}


@dataclass
class Problem:
    """A refusal as a page shows it: one German sentence, the service's reason, the fields it concerns."""

    message: str
    reason: str = ""
    fields: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)


def field_message(error_type: str, service_message: str) -> str:
    german = FIELD_TYPES.get(error_type)
    if german is None:
        return f"Die Angabe passt nicht ({service_message})."
    return german if error_type not in ("value_error",) else f"{german} ({service_message})"


def problem(err: ApiError, *, what: str = "Die Aktion") -> Problem:
    service = SERVICES.get(err.service, err.service)
    if err.status == 422:
        fields = {f: field_message(err.field_types.get(f, ""), m) for f, m in err.fields.items()}
        return Problem("Bitte die markierten Angaben prüfen.", err.detail, fields)
    if err.status in (409, 412) and err.stale:
        return Problem("Der Vorgang wurde inzwischen von jemand anderem geändert. Die Seite zeigt jetzt den neuen "
                       "Stand; bitte prüfen und erneut absenden.", err.detail)
    if err.status == 409 and err.missing:
        return Problem("Die Einwilligung deckt diese Vermittlung nicht ab. Es fehlt:", err.detail,
                       missing=[german(m) for m in err.missing])
    if err.status == 409:
        return Problem(f"{what} ist so nicht möglich.", err.detail)
    if err.status == 401:
        return Problem("Die Anmeldung ist abgelaufen oder ungültig. Bitte erneut anmelden.", err.detail)
    if err.status == 403:
        return Problem(f"{what} ist mit Ihrer Rolle oder für dieses Team nicht erlaubt.", err.detail)
    if err.status == 404:
        return Problem("Das Gesuchte gibt es nicht, oder es ist für Sie nicht sichtbar.", err.detail)
    if err.status == 503:
        return Problem(f"Der Dienst {service} ist gerade nicht erreichbar. Bitte später erneut versuchen.", err.detail)
    return Problem(f"Der Dienst {service} hat einen Fehler gemeldet (HTTP {err.status}). Bitte später erneut "
                   "versuchen; wenn es bleibt, die Administration informieren.", err.detail)
