"""Codes used only by the cases service's events."""

from __future__ import annotations

from enum import StrEnum


class TeamKind(StrEnum):
    """Which kind of team runs a case. kreis = the county's KIM team, stadt = a city's team (e.g. Lünen, Unna),
    traeger = a welfare organisation the post was forwarded to, abh = the foreigners' authority (Baustein 3),
    ebh = the naturalisation authority (Baustein 3)."""

    COUNTY = "kreis"
    CITY = "stadt"
    PROVIDER = "traeger"
    FOREIGNERS_AUTHORITY = "abh"
    NATURALISATION_AUTHORITY = "ebh"


class AccessChannel(StrEnum):
    """How the client came to case management (Zugangsweg). selbstmeldung = came on their own or through
    family and friends, auslaenderbehoerde, jobcenter, agentur_fuer_arbeit, sozialamt, jugendamt,
    wohlfahrtsverband = welfare organisation, migrationsberatung = migration counselling (MBE/JMD), ehrenamt =
    volunteers, schule = school or day care, aufsuchend = outreach work, sonstige = other."""

    SELF_REFERRAL = "selbstmeldung"
    FOREIGNERS_AUTHORITY = "auslaenderbehoerde"
    JOBCENTER = "jobcenter"
    EMPLOYMENT_AGENCY = "agentur_fuer_arbeit"
    SOCIAL_WELFARE_OFFICE = "sozialamt"
    YOUTH_WELFARE_OFFICE = "jugendamt"
    WELFARE_ORGANISATION = "wohlfahrtsverband"
    MIGRATION_COUNSELLING = "migrationsberatung"
    VOLUNTEERS = "ehrenamt"
    SCHOOL = "schule"
    OUTREACH = "aufsuchend"
    OTHER = "sonstige"


class ConsentForm(StrEnum):
    """Form in which consent was given. schriftlich = signed on paper, elektronisch = electronically."""

    WRITTEN = "schriftlich"
    ELECTRONIC = "elektronisch"


class WithdrawalScope(StrEnum):
    """What a withdrawal covers. alle = the whole consent, empfaenger = one recipient organisation,
    kategorie = one data category."""

    ALL = "alle"
    ONE_RECIPIENT = "empfaenger"
    ONE_CATEGORY = "kategorie"


class Level(StrEnum):
    """Rating used in the assessment (Clearing): keiner = none, gering = low, mittel = medium, hoch = high."""

    NONE = "keiner"
    LOW = "gering"
    MEDIUM = "mittel"
    HIGH = "hoch"


class Perspective(StrEnum):
    """How secure the residence perspective is judged: gruen = secure, gelb = uncertain, rot = at risk."""

    GREEN = "gruen"
    AMBER = "gelb"
    RED = "rot"


class GoalDropReason(StrEnum):
    """Why a goal was dropped: nicht_mehr_relevant = no longer relevant, nicht_erreichbar = not reachable,
    ersetzt = replaced by another goal, sonstiges = other."""

    NO_LONGER_RELEVANT = "nicht_mehr_relevant"
    NOT_REACHABLE = "nicht_erreichbar"
    REPLACED = "ersetzt"
    OTHER = "sonstiges"


class MilestoneKind(StrEnum):
    """Integration milestone. sprachkurs_beginn = German course started, sprachzertifikat = language certificate
    (with its level), anerkennung = foreign qualification recognised, ausbildung_beginn = vocational training
    started, beschaeftigung_beginn = job subject to social insurance started, leistungsunabhaengigkeit =
    independent of benefits, wohnung_gefunden = own flat found, einbuergerung_beantragt = naturalisation
    applied for, eingebuergert = naturalised."""

    COURSE_START = "sprachkurs_beginn"
    LANGUAGE_CERTIFICATE = "sprachzertifikat"
    RECOGNITION = "anerkennung"
    TRAINING_START = "ausbildung_beginn"
    JOB_START = "beschaeftigung_beginn"
    BENEFIT_INDEPENDENCE = "leistungsunabhaengigkeit"
    HOUSING_FOUND = "wohnung_gefunden"
    NATURALISATION_APPLIED = "einbuergerung_beantragt"
    NATURALISED = "eingebuergert"


class LanguageLevel(StrEnum):
    """CEFR level (GER) of a language certificate: A1, A2, B1, B2, C1, C2."""

    A1 = "A1"
    A2 = "A2"
    B1 = "B1"
    B2 = "B2"
    C1 = "C1"
    C2 = "C2"


class PauseReason(StrEnum):
    """Why a case is paused: krankheit = illness, auslandsaufenthalt = stay abroad, kein_kontakt = no contact
    for now, auf_wunsch = at the client's request, sonstiges = other."""

    ILLNESS = "krankheit"
    ABROAD = "auslandsaufenthalt"
    NO_CONTACT = "kein_kontakt"
    CLIENT_REQUEST = "auf_wunsch"
    OTHER = "sonstiges"


class ClosureReason(StrEnum):
    """Why a case was closed: ziele_erreicht = goals achieved, regeldienste = handed over to regular services,
    abbruch = client withdrew, kontakt_verloren = contact lost, wegzug = moved away, einwilligung_widerrufen =
    consent withdrawn, sonstiges = other."""

    GOALS_ACHIEVED = "ziele_erreicht"
    HANDED_TO_REGULAR_SERVICES = "regeldienste"
    CLIENT_WITHDREW = "abbruch"
    CONTACT_LOST = "kontakt_verloren"
    MOVED_AWAY = "wegzug"
    CONSENT_WITHDRAWN = "einwilligung_widerrufen"
    OTHER = "sonstiges"


class LegalHoldReason(StrEnum):
    """Why a client's data must be kept past its retention period: rechtsstreit = litigation or an objection
    procedure, behoerdenanfrage = a request of an authority or court, pruefung = an audit (e.g. of the funding),
    sonstiges = other (say which in the reference)."""

    LITIGATION = "rechtsstreit"
    AUTHORITY_REQUEST = "behoerdenanfrage"
    AUDIT = "pruefung"
    OTHER = "sonstiges"
