"""The fixed facts of the demo: Kreis Unna's municipalities, the teams, the partners, the positions.

Everything here is public knowledge or plainly invented; no real person appears. Organisation ids are also the
suffixes of the partners' topics (kim.partner.<id>).
"""

from __future__ import annotations

from dataclasses import dataclass

KREIS_UNNA = "05978000"


@dataclass(frozen=True)
class Municipality:
    name: str
    ags: str
    postcode: str
    population: int  # thousands, for weighting where clients live


MUNICIPALITIES = (
    Municipality("Bergkamen", "05978004", "59192", 48),
    Municipality("Bönen", "05978008", "59199", 18),
    Municipality("Fröndenberg/Ruhr", "05978012", "58730", 21),
    Municipality("Holzwickede", "05978016", "59439", 17),
    Municipality("Kamen", "05978020", "59174", 43),
    Municipality("Lünen", "05978024", "44534", 86),
    Municipality("Schwerte", "05978028", "58239", 46),
    Municipality("Selm", "05978032", "59379", 26),
    Municipality("Unna", "05978036", "59423", 59),
    Municipality("Werne", "05978040", "59368", 30),
)
BY_AGS = {m.ags: m for m in MUNICIPALITIES}


@dataclass(frozen=True)
class Team:
    organisation_id: str
    kind: str  # TeamKind: kreis, stadt, traeger, abh, ebh
    baustein: str


TEAMS = {t.organisation_id: t for t in (
    Team("kreis-unna", "kreis", "2"),
    Team("stadt-luenen", "stadt", "2"),
    Team("stadt-unna", "stadt", "2"),
    Team("awo-unna", "traeger", "2"),
    Team("caritas-unna", "traeger", "2"),
    Team("diakonie-ruhr-hellweg", "traeger", "2"),
    Team("abh-kreis-unna", "abh", "3"),
    Team("ebh-kreis-unna", "ebh", "3"),
)}

# Baustein-2 teams per municipality: (team, share of the municipality's clients)
LOCAL_TEAMS = {
    "05978024": (("stadt-luenen", 1.0),),
    "05978036": (("stadt-unna", 0.7), ("diakonie-ruhr-hellweg", 0.3)),
    "05978004": (("kreis-unna", 0.6), ("awo-unna", 0.4)),
    "05978020": (("kreis-unna", 0.6), ("awo-unna", 0.4)),
    "05978028": (("kreis-unna", 0.6), ("caritas-unna", 0.4)),
}


@dataclass(frozen=True)
class Partner:
    organisation_id: str
    name: str
    kind: str  # PartnerKind
    public_body: bool
    municipality: str | None
    purpose: str  # what a referral to it is for (ConsentPurpose)
    categories: tuple[str, ...]  # what is shared with it (DataCategory)
    outcomes: tuple[str, ...]  # outcomes it typically reports (OutcomeCode)


JOBCENTER = "jobcenter-kreis-unna"
PARTNERS = (
    Partner("abh-kreis-unna", "Ausländerbehörde Kreis Unna", "abh", True, KREIS_UNNA, "aufenthaltssicherung",
            ("stammdaten", "aufenthalt"), ("aufenthaltstitel_erteilt", "aufenthaltstitel_verlaengert")),
    Partner("abh-luenen", "Ausländerbehörde Stadt Lünen", "abh", True, "05978024", "aufenthaltssicherung",
            ("stammdaten", "aufenthalt"), ("aufenthaltstitel_erteilt", "aufenthaltstitel_verlaengert")),
    Partner("ebh-kreis-unna", "Einbürgerungsbehörde Kreis Unna", "ebh", True, KREIS_UNNA, "einbuergerung",
            ("stammdaten", "aufenthalt", "sprache_bildung"), ("einbuergerung_zugesichert", "in_bearbeitung")),
    Partner(JOBCENTER, "Jobcenter Kreis Unna", "jobcenter", True, KREIS_UNNA, "arbeitsmarktintegration",
            ("stammdaten", "arbeit_qualifikation", "leistungsbezug"),
            ("vermittelt", "massnahme_begonnen", "leistung_bewilligt")),
    Partner("agentur-hamm", "Agentur für Arbeit Hamm", "agentur_fuer_arbeit", True, None, "arbeitsmarktintegration",
            ("stammdaten", "arbeit_qualifikation"), ("vermittelt", "massnahme_begonnen")),
    Partner("sozialamt-luenen", "Sozialamt Stadt Lünen", "sozialamt", True, "05978024", "leistungsklaerung",
            ("stammdaten", "leistungsbezug", "wohnen"), ("leistung_bewilligt", "leistung_abgelehnt")),
    Partner("sozialamt-kamen", "Sozialamt Stadt Kamen", "sozialamt", True, "05978020", "leistungsklaerung",
            ("stammdaten", "leistungsbezug"), ("leistung_bewilligt", "leistung_abgelehnt")),
    Partner("jugendamt-kreis-unna", "Jugendamt Kreis Unna", "jugendamt", True, KREIS_UNNA, "jugendhilfe",
            ("stammdaten", "familie"), ("massnahme_begonnen", "kein_bedarf")),
    Partner("awo-unna", "AWO Unterbezirk Unna", "wohlfahrtsverband", False, "05978036", "wohnraumversorgung",
            ("kontaktdaten", "wohnen", "familie"), ("vermittelt", "kein_bedarf")),
    Partner("caritas-unna", "Caritasverband Unna", "wohlfahrtsverband", False, "05978036", "soziale_begleitung",
            ("kontaktdaten", "familie"), ("massnahme_begonnen", "kein_bedarf")),
    Partner("mbe-diakonie", "Migrationsberatung für Erwachsene (Diakonie Ruhr-Hellweg)", "migrationsberatung",
            False, "05978036", "sprachfoerderung", ("stammdaten", "sprache_bildung"),
            ("massnahme_begonnen", "massnahme_abgeschlossen")),
    Partner("jmd-luenen", "Jugendmigrationsdienst Lünen", "migrationsberatung", False, "05978024",
            "sprachfoerderung", ("stammdaten", "sprache_bildung"), ("massnahme_begonnen", "nicht_erschienen")),
    Partner("fluechtlingshilfe-schwerte", "Flüchtlingshilfe Schwerte e. V.", "ehrenamt", False, "05978028",
            "soziale_begleitung", ("kontaktdaten",), ("vermittelt", "sonstiges")),
)
PARTNER = {p.organisation_id: p for p in PARTNERS}


@dataclass(frozen=True)
class PositionPlan:
    position_id: str
    baustein: str
    host: str  # team organisation id
    municipality: str
    filled_by: str | None  # staff member id today (None: vacant)
    from_programme: str | None = None  # taken over from an expiring programme
    later: bool = False  # established mid-period (the team grows)
    predecessor: str | None = None  # someone who held it before and left


def _positions() -> tuple[PositionPlan, ...]:
    rows = [  # (baustein, host, municipality AGS, filled?)
        ("1", "kreis-unna", KREIS_UNNA, True), ("1", "kreis-unna", KREIS_UNNA, False),
        *[("2", "stadt-luenen", "05978024", f) for f in (True, True, True, False)],
        *[("2", "stadt-unna", "05978036", f) for f in (True, True, False)],
        *[("2", "kreis-unna", ags, True) for ags in ("05978004", "05978004", "05978020", "05978028", "05978040",
                                                     "05978032")],
        *[("2", "kreis-unna", ags, False) for ags in ("05978008", "05978012", "05978016", "05978020")],
        ("2", "awo-unna", "05978004", True), ("2", "awo-unna", "05978020", True),
        ("2", "caritas-unna", "05978028", True), ("2", "caritas-unna", "05978012", False),
        ("2", "diakonie-ruhr-hellweg", "05978036", True),
        *[("3", "abh-kreis-unna", KREIS_UNNA, f) for f in (True, True, False)],
        *[("3", "ebh-kreis-unna", KREIS_UNNA, f) for f in (True, False)],
    ]
    plans, staff = [], 0
    for n, (baustein, host, ags, filled) in enumerate(rows, start=1):
        staff += filled
        plans.append(PositionPlan(
            f"stelle-{n:02d}", baustein, host, ags, f"ma-{staff:03d}" if filled else None,
            from_programme="Einwanderung gestalten NRW" if n in (10, 11, 12) else None,
            later=not filled and n % 2 == 0, predecessor=f"ma-{100 + n:03d}" if n in (4, 13, 25) else None))
    return tuple(plans)


POSITIONS = _positions()  # 29 planned, 19 filled
GRANTS = {"1": ("2.0", "57000.00"), "2": ("22.0", "56000.00"), "3": ("5.0", "56000.00")}  # Baustein: VZÄ, rate
