"""The reporting service's cells as German tables: one per indicator, a row per breakdown value, a column per
period. Suppression is the service's: a suppressed cell has no value and is shown as such, never computed here."""

from __future__ import annotations

from dataclasses import dataclass

from . import labels as L
from .formats import de_number, de_percent

# name -> (German title, how a value is written: count, percent, decimal places as "d<N>")
INDICATORS = {
    "active_cases": ("Aktive Fälle am Periodenende", "count"),
    "intakes": ("Aufnahmen nach Zugangsweg", "count"),
    "closures": ("Abschlüsse nach Grund", "count"),
    "residence_status_at_intake": ("Aufenthaltsstatus bei Aufnahme", "count"),
    "residence_status_at_closure": ("Aufenthaltsstatus bei Abschluss", "count"),
    "status_improvements": ("Verbesserungen des Aufenthaltsstatus", "count"),
    "naturalisations": ("Einbürgerungen", "count"),
    "rechtskreis_mix": ("Rechtskreis der aktiven Fälle am Periodenende", "count"),
    "rechtskreis_changes": ("Wechsel des Rechtskreises", "count"),
    "course_starts": ("Beginn eines Deutschkurses", "count"),
    "b1_plus_certificates": ("Sprachzertifikate B1 oder höher", "count"),
    "training_starts": ("Beginn einer Ausbildung", "count"),
    "job_starts": ("Beginn einer sozialversicherungspflichtigen Beschäftigung", "count"),
    "goal_rate": ("Zielerreichung (erreichte / vereinbarte Ziele abgeschlossener Fälle)", "percent"),
    "median_case_duration_days": ("Median der Falldauer abgeschlossener Fälle (Tage)", "d1"),
    "referrals": ("Vermittlungen nach Partner", "count"),
    "referral_acceptance_rate": ("Annahmequote der Vermittlungen nach Partner", "percent"),
    "median_days_to_appointment": ("Median der Tage bis zum Termin nach Partner", "d1"),
    "consent_coverage": ("Aktive Fälle mit gültiger Einwilligung für alle beteiligten Partner", "percent"),
    "vza_granted": ("VZÄ bewilligt (zeitgewichtet)", "d3"),
    "vza_positions": ("VZÄ eingerichteter Stellen (zeitgewichtet)", "d3"),
    "vza_filled": ("VZÄ besetzt (zeitgewichtet)", "d3"),
    "vza_filled_at_end": ("VZÄ besetzt am Periodenende", "d3"),
    "vza_vacant_at_end": ("VZÄ unbesetzt am Periodenende", "d3"),
    "active_cases_per_filled_vza": ("Aktive Fälle je besetztem VZÄ am Periodenende", "d2"),
}
DIMENSIONS = {"access_channel": L.ACCESS_CHANNELS, "reason": L.CLOSURE_REASONS, "status": L.RESIDENCE,
              "rechtskreis": L.RECHTSKREISE}
SUPPRESSED = "unterdrückt"


def value_text(indicator: str, cell: dict) -> str:
    if cell.get("suppressed"):
        return SUPPRESSED
    kind = INDICATORS.get(indicator, ("", "count"))[1]
    if kind == "percent":
        return de_percent(cell.get("value"))
    return de_number(cell.get("value"), int(kind[1:]) if kind.startswith("d") else None)


def dimension_text(dimension: str, value: str, partners: dict[str, str]) -> str:
    if dimension == "partner":
        return partners.get(value, value)
    if dimension in ("transition", "change") and ("->" in value or ">" in value):
        a, _, b = value.replace("->", ">").partition(">")
        codes = L.RESIDENCE if dimension == "transition" else L.RECHTSKREISE
        return f"{L.label(codes, a)} → {L.label(codes, b)}"
    return L.label(DIMENSIONS.get(dimension, {}), value)


@dataclass
class Table:
    indicator: str
    title: str
    rows: list[tuple[str, list[tuple[str, str]]]]  # (row label, [(period, text)])


def tables(data: dict, partners: dict[str, str]) -> list[Table]:
    periods = [p["period"] for p in data.get("periods", [])]
    by_indicator: dict[str, dict[str, dict[str, dict]]] = {}
    for cell in data.get("cells", []):
        dims = cell.get("dimensions") or {}
        dim, value = next(iter(dims.items()), ("", ""))
        row = dimension_text(dim, value, partners) if dim else "insgesamt"
        by_indicator.setdefault(cell["indicator"], {}).setdefault(row, {})[cell["period"]] = cell
    out = []
    for name, (title, _) in INDICATORS.items():
        rows = by_indicator.get(name)
        if rows:
            out.append(Table(name, title, [(row, [(p, value_text(name, cells[p]) if p in cells else "–")
                                                  for p in periods]) for row, cells in sorted(rows.items())]))
    return out
