"""German labels for the codes of the event contract (kim_schemas), the phases and the municipalities.

Each code list is checked against its enum by a unit test, so a new code without a German label fails the suite.
"""

from __future__ import annotations

PHASES = {"intake": "Erstkontakt", "consent": "Einwilligung", "assessment": "Clearing",
          "integration_plan": "Hilfeplan", "monitoring": "Begleitung", "closed": "Abgeschlossen"}
ROLES = {"case_manager": "Fallmanagement", "team_lead": "Teamleitung", "partner": "Partnerorganisation",
         "auditor": "Prüfung", "admin": "Administration"}
MUNICIPALITIES = {
    "05978000": "Kreis Unna", "05978004": "Bergkamen", "05978008": "Bönen", "05978012": "Fröndenberg/Ruhr",
    "05978016": "Holzwickede", "05978020": "Kamen", "05978024": "Lünen", "05978028": "Schwerte",
    "05978032": "Selm", "05978036": "Unna", "05978040": "Werne",
}
TEAM_KINDS = {"kreis": "Kreis", "stadt": "Stadt", "traeger": "Träger der Wohlfahrtspflege",
              "abh": "Ausländerbehörde", "ebh": "Einbürgerungsbehörde"}
ACCESS_CHANNELS = {
    "selbstmeldung": "Selbstmeldung", "auslaenderbehoerde": "Ausländerbehörde", "jobcenter": "Jobcenter",
    "agentur_fuer_arbeit": "Agentur für Arbeit", "sozialamt": "Sozialamt", "jugendamt": "Jugendamt",
    "wohlfahrtsverband": "Wohlfahrtsverband", "migrationsberatung": "Migrationsberatung (MBE/JMD)",
    "ehrenamt": "Ehrenamt", "schule": "Schule oder Kita", "aufsuchend": "Aufsuchende Arbeit",
    "sonstige": "Sonstige"}
BAUSTEINE = {"1": "Baustein 1 (strategische Koordinierung)", "2": "Baustein 2 (Case Management)",
             "3": "Baustein 3 (ABH und EBH)"}
CONSENT_FORMS = {"schriftlich": "schriftlich", "elektronisch": "elektronisch"}
CONSENT_STATUS = {"active": "gültig", "withdrawn": "widerrufen", "expired": "abgelaufen",
                  "pending": "noch nicht gültig"}
WITHDRAWAL_SCOPES = {"alle": "ganze Einwilligung", "empfaenger": "eine Empfängerin",
                     "kategorie": "eine Datenkategorie"}
PURPOSES = {
    "aufenthaltssicherung": "Aufenthaltssicherung", "einbuergerung": "Einbürgerung",
    "arbeitsmarktintegration": "Arbeitsmarktintegration", "sprachfoerderung": "Sprachförderung",
    "leistungsklaerung": "Leistungsklärung", "wohnraumversorgung": "Wohnraumversorgung",
    "gesundheitsversorgung": "Gesundheitsversorgung", "jugendhilfe": "Jugendhilfe",
    "soziale_begleitung": "Soziale Begleitung"}
DATA_CATEGORIES = {
    "stammdaten": "Stammdaten", "kontaktdaten": "Kontaktdaten", "aufenthalt": "Aufenthalt",
    "sprache_bildung": "Sprache und Bildung", "arbeit_qualifikation": "Arbeit und Qualifikation",
    "leistungsbezug": "Leistungsbezug", "wohnen": "Wohnen", "familie": "Familie",
    "gesundheit": "Gesundheit (besondere Kategorie)", "fallverlauf": "Fallverlauf"}
LIFE_DOMAINS = {"aufenthalt": "Aufenthalt", "sprache": "Sprache", "arbeit": "Arbeit und Ausbildung",
                "wohnen": "Wohnen", "gesundheit": "Gesundheit", "bildung": "Bildung", "familie": "Familie"}
LEVELS = {"keiner": "keiner", "gering": "gering", "mittel": "mittel", "hoch": "hoch"}
RECHTSKREISE = {"SGB_II": "SGB II", "SGB_III": "SGB III", "SGB_VIII": "SGB VIII", "SGB_XII": "SGB XII",
                "AsylbLG": "AsylbLG", "AufenthG": "AufenthG"}
RESIDENCE = {
    "gestattung": "Aufenthaltsgestattung", "duldung_60a": "Duldung § 60a", "duldung_60c": "Ausbildungsduldung § 60c",
    "duldung_60d": "Beschäftigungsduldung § 60d", "ae_104c": "Aufenthaltserlaubnis § 104c",
    "ae_25a": "Aufenthaltserlaubnis § 25a", "ae_25b": "Aufenthaltserlaubnis § 25b",
    "ae_other": "andere Aufenthaltserlaubnis", "niederlassungserlaubnis": "Niederlassungserlaubnis",
    "einbuergerung_beantragt": "Einbürgerung beantragt", "eingebuergert": "eingebürgert"}
PERSPECTIVES = {"gruen": "gesichert (grün)", "gelb": "unsicher (gelb)", "rot": "gefährdet (rot)"}
MILESTONES = {
    "sprachkurs_beginn": "Sprachkurs begonnen", "sprachzertifikat": "Sprachzertifikat",
    "anerkennung": "Anerkennung der Qualifikation", "ausbildung_beginn": "Ausbildung begonnen",
    "beschaeftigung_beginn": "sozialversicherungspflichtige Beschäftigung begonnen",
    "leistungsunabhaengigkeit": "unabhängig von Leistungen", "wohnung_gefunden": "eigene Wohnung gefunden",
    "einbuergerung_beantragt": "Einbürgerung beantragt", "eingebuergert": "eingebürgert"}
LANGUAGE_LEVELS = {v: v for v in ("A1", "A2", "B1", "B2", "C1", "C2")}
GOAL_DROP_REASONS = {"nicht_mehr_relevant": "nicht mehr relevant", "nicht_erreichbar": "nicht erreichbar",
                     "ersetzt": "durch ein anderes Ziel ersetzt", "sonstiges": "sonstiger Grund"}
GOAL_STATUS = {"open": "offen", "agreed": "vereinbart", "achieved": "erreicht", "dropped": "aufgegeben"}
PAUSE_REASONS = {"krankheit": "Krankheit", "auslandsaufenthalt": "Auslandsaufenthalt",
                 "kein_kontakt": "derzeit kein Kontakt", "auf_wunsch": "auf Wunsch", "sonstiges": "sonstiger Grund"}
CLOSURE_REASONS = {
    "ziele_erreicht": "Ziele erreicht", "regeldienste": "an Regeldienste übergeben", "abbruch": "Abbruch",
    "kontakt_verloren": "Kontakt verloren", "wegzug": "Wegzug", "einwilligung_widerrufen": "Einwilligung widerrufen",
    "sonstiges": "sonstiger Grund"}
OUTCOMES = {
    "leistung_bewilligt": "Leistung bewilligt", "leistung_abgelehnt": "Leistung abgelehnt",
    "massnahme_begonnen": "Maßnahme begonnen", "massnahme_abgeschlossen": "Maßnahme abgeschlossen",
    "aufenthaltstitel_erteilt": "Aufenthaltstitel erteilt",
    "aufenthaltstitel_verlaengert": "Aufenthaltstitel verlängert",
    "einbuergerung_zugesichert": "Einbürgerung zugesichert", "vermittelt": "vermittelt",
    "in_bearbeitung": "in Bearbeitung", "nicht_erschienen": "nicht erschienen", "kein_bedarf": "kein Bedarf",
    "sonstiges": "sonstiges"}
DECLINE_REASONS = {"nicht_zustaendig": "nicht zuständig", "keine_kapazitaet": "keine Kapazität",
                   "voraussetzungen_fehlen": "Voraussetzungen fehlen", "sonstiges": "sonstiger Grund"}
ERASURE_GROUNDS = {  # Art. 17(1) GDPR
    "zweck_entfallen": "Zweck entfallen (Art. 17 Abs. 1 lit. a DSGVO)",
    "einwilligung_widerrufen": "Einwilligung widerrufen (lit. b)", "widerspruch": "Widerspruch der Person (lit. c)",
    "unrechtmaessig": "unrechtmäßig verarbeitet (lit. d)", "rechtspflicht": "rechtliche Verpflichtung (lit. e)"}
REVOCATION_REASONS = {"einwilligung_widerrufen": "Einwilligung widerrufen",
                      "einwilligung_abgelaufen": "Einwilligung abgelaufen", "fall_abgeschlossen": "Fall abgeschlossen",
                      "loeschung": "Daten der Person gelöscht", "sonstiges": "sonstiger Grund"}
REFERRAL_STATES = {
    "requested": "angefragt", "accepted": "angenommen", "declined": "abgelehnt",
    "appointment_scheduled": "Termin vereinbart", "outcome_reported": "Ergebnis gemeldet", "closed": "abgeschlossen",
    "revoked": "widerrufen"}
PARTNER_KINDS = {
    "abh": "Ausländerbehörde", "ebh": "Einbürgerungsbehörde", "jobcenter": "Jobcenter",
    "agentur_fuer_arbeit": "Agentur für Arbeit", "sozialamt": "Sozialamt", "jugendamt": "Jugendamt",
    "wohlfahrtsverband": "Wohlfahrtsverband", "migrationsberatung": "Migrationsberatung", "ehrenamt": "Ehrenamt"}
PERIOD_KINDS = {"month": "Monat", "quarter": "Quartal", "half_year": "Halbjahr", "year": "Jahr"}
LANGUAGES = {"de": "Deutsch", "ar": "Arabisch", "en": "Englisch", "fa": "Persisch", "prs": "Dari", "ku": "Kurdisch",
             "ru": "Russisch", "uk": "Ukrainisch", "tr": "Türkisch", "ti": "Tigrinya", "so": "Somali",
             "fr": "Französisch",
             "ro": "Rumänisch", "bg": "Bulgarisch", "pl": "Polnisch", "sq": "Albanisch", "ps": "Paschtu"}


# what the services show in place of a value encrypted with the client's key
SEALED = {"erased": "gelöscht", "withheld": "nicht einsehbar"}


def label(codes: dict[str, str], code: str | None) -> str:
    """The German label of a code; an unknown code is shown as it is (never hidden)."""
    if code is None:
        return "–"
    return codes.get(str(code), SEALED.get(str(code), str(code)))


def options(codes: dict[str, str]) -> list[tuple[str, str]]:
    return list(codes.items())


def pairs(codes: list[str], names: dict[str, str]) -> list[tuple[str, str]]:
    """(code, label) for some codes, e.g. the recipients a consent still names."""
    return [(c, names.get(c, c)) for c in codes]


FIELDS = {
    "name": "Name", "date_of_birth": "Geburtsdatum", "address": "Anschrift", "contact": "Kontakt",
    "languages": "Sprachen", "arrival_year": "Jahr der Einreise", "birth_year": "Geburtsjahr",
    "client_id": "Person", "municipality": "Kommune", "team": "Art des Teams", "team_organisation_id": "Team",
    "baustein": "Baustein", "access_channel": "Zugangsweg", "opened_on": "Eröffnet am",
    "recipients": "Empfänger", "purposes": "Zwecke", "data_categories": "Datenkategorien",
    "special_categories": "Besondere Kategorien", "form": "Form", "informed_in": "Sprache der Aufklärung",
    "granted_on": "Erteilt am", "valid_until": "Gültig bis", "scope": "Umfang", "recipient": "Empfänger",
    "data_category": "Datenkategorie", "assessed_on": "Abgeschlossen am", "domains": "Lebensbereiche",
    "rechtskreis": "Rechtskreis", "current": "Neuer Rechtskreis", "changed_on": "Gewechselt am",
    "status": "Status", "status_since": "Seit", "perspective": "Bleibeperspektive", "recorded_on": "Erfasst am",
    "goals": "Ziele", "domain": "Lebensbereich", "target_date": "Zieldatum",
    "responsible_organisation_id": "Verantwortlich", "agreed_on": "Vereinbart am", "held_on": "Am",
    "notes": "Notiz", "next_review_on": "Nächste Besprechung", "milestone": "Meilenstein",
    "reached_on": "Erreicht am", "language_level": "Niveau", "reason": "Grund", "closed_on": "Abgeschlossen am",
    "achieved_on": "Erreicht am", "dropped_on": "Aufgegeben am", "to_organisation_id": "Partnerorganisation",
    "purpose": "Zweck", "consent_id": "Einwilligung", "due_on": "Erledigen bis", "appointment_on": "Termin am",
    "outcome": "Ergebnis", "confirm": "Bestätigung", "from": "Von", "to": "Bis", "period": "Periode",
}


def field_label(name: str) -> str:
    """The German name of a form field the API named, e.g. "goals.0.target_date" -> "Ziel 1: Zieldatum"."""
    parts = name.split(".")
    if len(parts) >= 3 and parts[1].isdecimal():
        row = {"goals": "Ziel", "domains": "Lebensbereich"}.get(parts[0], FIELDS.get(parts[0], parts[0]))
        return f"{row} {int(parts[1]) + 1}: {FIELDS.get(parts[-1], parts[-1])}"
    return FIELDS.get(name, name)
