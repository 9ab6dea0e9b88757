"""Codes used by more than one service. Values are German legal or domain codes; member names are English.

Each enum's docstring documents its values; it becomes the description in the JSON Schema."""

from __future__ import annotations

from enum import StrEnum


class Baustein(StrEnum):
    """KIM building block (Baustein). 1 = strategic coordination in the Kommunales Integrationszentrum,
    2 = case management on site, 3 = extra staff in the Ausländerbehörde and the Einbürgerungsbehörde."""

    STRATEGIC_COORDINATION = "1"
    CASE_MANAGEMENT = "2"
    AUTHORITIES = "3"


class Rechtskreis(StrEnum):
    """Legal frame the client's support falls under. SGB_II = basic income support for jobseekers (Jobcenter),
    SGB_III = employment promotion (Agentur für Arbeit), SGB_VIII = child and youth welfare (Jugendamt),
    SGB_XII = social assistance (Sozialamt), AsylbLG = Asylbewerberleistungsgesetz, AufenthG = residence law
    only (no benefits)."""

    SGB_II = "SGB_II"
    SGB_III = "SGB_III"
    SGB_VIII = "SGB_VIII"
    SGB_XII = "SGB_XII"
    ASYLBLG = "AsylbLG"
    AUFENTHG = "AufenthG"


class ResidenceStatus(StrEnum):
    """Residence status (Aufenthaltsstatus). gestattung = Aufenthaltsgestattung (asylum procedure pending),
    duldung_60a = Duldung § 60a AufenthG, duldung_60c = Ausbildungsduldung § 60c, duldung_60d =
    Beschäftigungsduldung § 60d, ae_104c = Aufenthaltserlaubnis § 104c (Chancen-Aufenthaltsrecht), ae_25a =
    § 25a (well-integrated young people), ae_25b = § 25b (sustained integration), ae_other = any other
    Aufenthaltserlaubnis, niederlassungserlaubnis = settlement permit, einbuergerung_beantragt = naturalisation
    applied for, eingebuergert = naturalised (German citizen)."""

    PERMISSION_TO_STAY = "gestattung"
    TOLERATION_60A = "duldung_60a"
    TRAINING_TOLERATION_60C = "duldung_60c"
    EMPLOYMENT_TOLERATION_60D = "duldung_60d"
    OPPORTUNITY_RESIDENCE_104C = "ae_104c"
    WELL_INTEGRATED_YOUTH_25A = "ae_25a"
    SUSTAINED_INTEGRATION_25B = "ae_25b"
    OTHER_RESIDENCE_PERMIT = "ae_other"
    SETTLEMENT_PERMIT = "niederlassungserlaubnis"
    NATURALISATION_APPLIED = "einbuergerung_beantragt"
    NATURALISED = "eingebuergert"


class PartnerKind(StrEnum):
    """Kind of partner organisation. abh = Ausländerbehörde (foreigners' authority), ebh =
    Einbürgerungsbehörde (naturalisation authority), jobcenter, agentur_fuer_arbeit, sozialamt, jugendamt,
    wohlfahrtsverband = welfare organisation (Freie Wohlfahrtspflege), migrationsberatung = migration
    counselling (MBE/JMD), ehrenamt = volunteers."""

    FOREIGNERS_AUTHORITY = "abh"
    NATURALISATION_AUTHORITY = "ebh"
    JOBCENTER = "jobcenter"
    EMPLOYMENT_AGENCY = "agentur_fuer_arbeit"
    SOCIAL_WELFARE_OFFICE = "sozialamt"
    YOUTH_WELFARE_OFFICE = "jugendamt"
    WELFARE_ORGANISATION = "wohlfahrtsverband"
    MIGRATION_COUNSELLING = "migrationsberatung"
    VOLUNTEERS = "ehrenamt"


class LifeDomain(StrEnum):
    """Life domain of needs, goals and assessments. aufenthalt = residence, sprache = language, arbeit = work
    and training, wohnen = housing, gesundheit = health, bildung = school and education, familie = family."""

    RESIDENCE = "aufenthalt"
    LANGUAGE = "sprache"
    WORK = "arbeit"
    HOUSING = "wohnen"
    HEALTH = "gesundheit"
    EDUCATION = "bildung"
    FAMILY = "familie"


class ConsentPurpose(StrEnum):
    """Purpose a consent allows data to be shared for (Zweck). aufenthaltssicherung = securing residence,
    einbuergerung = naturalisation, arbeitsmarktintegration = work and training, sprachfoerderung = language
    courses, leistungsklaerung = clarifying benefits, wohnraumversorgung = housing, gesundheitsversorgung =
    health care, jugendhilfe = youth welfare, soziale_begleitung = social support by volunteers or welfare
    organisations."""

    SECURE_RESIDENCE = "aufenthaltssicherung"
    NATURALISATION = "einbuergerung"
    LABOUR_MARKET = "arbeitsmarktintegration"
    LANGUAGE_SUPPORT = "sprachfoerderung"
    BENEFITS = "leistungsklaerung"
    HOUSING = "wohnraumversorgung"
    HEALTH_CARE = "gesundheitsversorgung"
    YOUTH_WELFARE = "jugendhilfe"
    SOCIAL_SUPPORT = "soziale_begleitung"


class DataCategory(StrEnum):
    """Category of data a consent covers (Datenkategorie). stammdaten = identity (name, date of birth),
    kontaktdaten = address and contact, aufenthalt = residence status facts, sprache_bildung = language and
    education, arbeit_qualifikation = work and qualifications, leistungsbezug = benefits received, wohnen =
    housing, familie = family situation, gesundheit = health (a special category, Art. 9 GDPR), fallverlauf =
    case progress (goals, milestones; never counselling notes)."""

    IDENTITY = "stammdaten"
    CONTACT = "kontaktdaten"
    RESIDENCE = "aufenthalt"
    LANGUAGE_EDUCATION = "sprache_bildung"
    WORK_QUALIFICATIONS = "arbeit_qualifikation"
    BENEFITS = "leistungsbezug"
    HOUSING = "wohnen"
    FAMILY = "familie"
    HEALTH = "gesundheit"
    CASE_PROGRESS = "fallverlauf"


# The client's personal fields each data category shares with a partner, on request only
# (GET /partner/referrals/{id}/person, decrypted by the cases service and recorded): never on a topic. One map for
# the cases service (what it opens), the referrals service (what it asks for) and PARTNERS.md (what it promises).
PERSON_FIELDS: dict[DataCategory, tuple[str, ...]] = {
    DataCategory.IDENTITY: ("name", "date_of_birth"),
    DataCategory.CONTACT: ("address", "contact"),
    DataCategory.LANGUAGE_EDUCATION: ("languages",),
}


class OutcomeCode(StrEnum):
    """Outcome a partner reports for a referral (Ergebnis). leistung_bewilligt = benefit granted,
    leistung_abgelehnt = benefit refused, massnahme_begonnen = measure or course started,
    massnahme_abgeschlossen = measure completed, aufenthaltstitel_erteilt = residence permit granted,
    aufenthaltstitel_verlaengert = residence permit extended, einbuergerung_zugesichert = naturalisation
    assured, vermittelt = placed (job, training, flat), in_bearbeitung = still being processed,
    nicht_erschienen = client did not attend, kein_bedarf = no need found, sonstiges = other."""

    BENEFIT_GRANTED = "leistung_bewilligt"
    BENEFIT_REFUSED = "leistung_abgelehnt"
    MEASURE_STARTED = "massnahme_begonnen"
    MEASURE_COMPLETED = "massnahme_abgeschlossen"
    PERMIT_GRANTED = "aufenthaltstitel_erteilt"
    PERMIT_EXTENDED = "aufenthaltstitel_verlaengert"
    NATURALISATION_ASSURED = "einbuergerung_zugesichert"
    PLACED = "vermittelt"
    IN_PROGRESS = "in_bearbeitung"
    DID_NOT_ATTEND = "nicht_erschienen"
    NO_NEED = "kein_bedarf"
    OTHER = "sonstiges"


class ErasureGround(StrEnum):
    """The ground of an erasure (Art. 17(1) GDPR): zweck_entfallen = no longer needed for its purpose (a),
    einwilligung_widerrufen = consent withdrawn (b), widerspruch = the person objected (c), unrechtmaessig = processed
    unlawfully (d), rechtspflicht = erasure required by law (e)."""

    PURPOSE_GONE = "zweck_entfallen"
    CONSENT_WITHDRAWN = "einwilligung_widerrufen"
    OBJECTION = "widerspruch"
    UNLAWFUL = "unrechtmaessig"
    LEGAL_OBLIGATION = "rechtspflicht"


class ErasureReason(StrEnum):
    """Why a client's key was destroyed: antrag = on request (right to erasure, Art. 17 GDPR), aufbewahrungsfrist =
    the retention period after the client's last case was closed passed (Art. 5(1)(e) GDPR, SGB X § 84)."""

    REQUEST = "antrag"
    RETENTION = "aufbewahrungsfrist"


class RevocationReason(StrEnum):
    """Why a referral was revoked. einwilligung_widerrufen = the client withdrew consent, einwilligung_abgelaufen =
    the consent's valid_until passed, fall_abgeschlossen = the case was closed, loeschung = the client's data was
    erased (right to erasure, Art. 17 GDPR, or the retention period passed), sonstiges = other."""

    CONSENT_WITHDRAWN = "einwilligung_widerrufen"
    CONSENT_EXPIRED = "einwilligung_abgelaufen"
    CASE_CLOSED = "fall_abgeschlossen"
    ERASURE = "loeschung"
    OTHER = "sonstiges"


class EndedReason(StrEnum):
    """Why a referral's personal data is no longer shared although it was not revoked: abgelehnt = the partner
    declined it, abgeschlossen = it is closed."""

    DECLINED = "abgelehnt"
    CLOSED = "abgeschlossen"
