"""A generated, realistic history of the three source topics: clients, cases, consents, referrals, positions.

Every event is built from its kim_schemas model (so it is valid against the contract) and wrapped in an Envelope
with the headers the other services would set. Deterministic for a given seed.
"""

from __future__ import annotations

import base64
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from kim_runtime.envelope import Envelope
from kim_schemas import cases as c
from kim_schemas import referrals as r
from kim_schemas import staffing as s
from kim_schemas.codes import Rechtskreis, ResidenceStatus

MUNICIPALITIES = ["05978024", "05978036", "05978028", "05978000"]  # Lünen, Unna, Selm, Kreis
PARTNERS = [("abh-kreis-unna", "abh"), ("jobcenter-kreis-unna", "jobcenter"), ("awo-unna", "wohlfahrtsverband"),
            ("caritas-luenen", "migrationsberatung"), ("ebh-kreis-unna", "ebh"), ("ehrenamt-selm", "ehrenamt")]
START, END = date(2024, 1, 1), date(2025, 6, 30)
STATUS_PATH = [["gestattung", "duldung_60a", "duldung_60c"], ["ae_104c"], ["ae_25a", "ae_25b", "ae_other"],
               ["niederlassungserlaubnis"], ["einbuergerung_beantragt"], ["eingebuergert"]]


def _instant(day: date, rng: random.Random) -> datetime:
    return datetime.combine(day, time(8 + rng.randrange(9), rng.randrange(60)), UTC)


@dataclass
class History:
    topic_suffix: str
    events: dict[str, list[Envelope]] = field(default_factory=lambda: {"cases": [], "referrals": [], "staffing": []})
    _versions: dict[str, int] = field(default_factory=dict)

    def add(self, service: str, model, *, subject: str | None = None, municipality: str | None = None,
            schema_version: int | None = None, data: dict | None = None) -> None:
        stream = model.stream_id()
        self._versions[stream] = self._versions.get(stream, 0) + 1
        self.events[service].append(Envelope(
            type=model.event_type, source=f"/kim/{service}", stream_id=stream, stream_version=self._versions[stream],
            schema_version=schema_version or model.schema_version, subject=subject, actor="staff-1",
            municipality=municipality, correlation_id=str(uuid.uuid4()),
            data=data if data is not None else model.model_dump(mode="json")))

    def all(self) -> list[Envelope]:
        return [e for events in self.events.values() for e in events]


def generate(seed: int, *, clients: int = 300, positions: int = 30, topic_suffix: str = "") -> History:
    rng = random.Random(seed)
    h = History(topic_suffix)
    for org, kind in PARTNERS:
        h.add("referrals", r.PartnerRegistered(organisation_id=org, name=org.replace("-", " ").title(), kind=kind))
    for i in range(clients):
        client_id = f"cl-{seed}-{i}"
        h.add("cases", c.ClientRegistered(client_id=client_id, personal=c.Encrypted(
            key_id=f"key-{client_id}", nonce=base64.b64encode(b"0" * 12).decode(),
            ciphertext=base64.b64encode(b"x" * 40).decode())), subject=client_id)
        rng.randrange(40), rng.randrange(9)  # the bands v2 carried (gone since v3): the same history as before
        for n in range(1 if rng.random() < 0.9 else 2):
            _case(h, rng, client_id, f"case-{seed}-{i}-{n}")
    _staffing(h, rng, seed, positions)
    return h


def _case(h: History, rng: random.Random, client_id: str, case_id: str) -> None:
    day = START + timedelta(days=rng.randrange((END - START).days - 30))
    muni = rng.choice(MUNICIPALITIES)
    opened = day
    add = lambda model, **kw: h.add("cases", model, subject=client_id, municipality=muni, **kw)  # noqa: E731
    add(c.CaseOpened(case_id=case_id, client_id=client_id, municipality=muni, baustein=rng.choice("2223"),
                     team="kreis", team_organisation_id="kreis-unna", case_manager_id=f"staff-{rng.randrange(20)}",
                     access_channel=rng.choice(["selbstmeldung", "jobcenter", "auslaenderbehoerde", "schule",
                                                "migrationsberatung"]), opened_on=day))
    level = rng.randrange(3)
    if rng.random() < 0.85:
        _status(h, add, rng, case_id, rng.choice(STATUS_PATH[level]), day)
    rk = rng.choice(list(Rechtskreis))
    day += timedelta(days=rng.randrange(20))
    add(c.AssessmentCompleted(case_id=case_id, assessed_on=day, rechtskreis=rk, domains=[
        c.DomainAssessment(domain="sprache", need="hoch", resources="gering")]))
    recipients = rng.sample([p for p, _ in PARTNERS], rng.randrange(1, 4))
    consent_id = f"con-{case_id}"
    add(c.ConsentGranted(case_id=case_id, consent_id=consent_id, recipients=recipients, purposes=["aufenthaltssicherung"],
                         data_categories=["aufenthalt"], special_categories=False, form="schriftlich", informed_in="ar",
                         granted_on=day, valid_until=day + timedelta(days=rng.choice([90, 365, 900])),
                         recorded_by="staff-1"))
    referrals = [(rng.choice(recipients if rng.random() < 0.8 else [p for p, _ in PARTNERS]), day)
                 for _ in range(rng.randrange(0, 3))]
    paused = False
    for _ in range(rng.randrange(0, 7)):
        day += timedelta(days=rng.randrange(1, 60))
        if day >= END:
            break
        roll = rng.random()
        if roll < 0.25 and level < len(STATUS_PATH) - 1:
            level = max(0, level + rng.choice([1, 1, 1, -1]))
            _status(h, add, rng, case_id, rng.choice(STATUS_PATH[level]), day)
        elif roll < 0.35:
            new = rng.choice([k for k in Rechtskreis if k != rk])
            add(c.RechtskreisChanged(case_id=case_id, previous=rk if rng.random() < 0.9 else None, current=new,
                                     changed_on=day))
            rk = new
        elif roll < 0.6:
            kind = rng.choice(["sprachkurs_beginn", "sprachzertifikat", "ausbildung_beginn", "beschaeftigung_beginn",
                               "eingebuergert", "wohnung_gefunden"])
            level_cert = rng.choice(["A2", "B1", "B2", "C1"]) if kind == "sprachzertifikat" else None
            add(c.MilestoneRecorded(case_id=case_id, milestone=kind, reached_on=day, language_level=level_cert))
        elif roll < 0.7:
            muni = rng.choice(MUNICIPALITIES)
            add(c.CaseTransferred(case_id=case_id, municipality=muni, team="stadt", team_organisation_id="stadt-unna",
                                  case_manager_id="staff-3", transferred_on=day))
        elif roll < 0.8:
            if paused:
                add(c.CaseResumed(case_id=case_id, resumed_on=day))
            else:
                add(c.CasePaused(case_id=case_id, reason="krankheit", paused_on=day))
            paused = not paused
        elif roll < 0.87:
            scope = rng.choice(["alle", "empfaenger", "kategorie"])
            add(c.ConsentWithdrawn(case_id=case_id, consent_id=consent_id, scope=scope,
                                   recipient=recipients[0] if scope == "empfaenger" else None,
                                   data_category="aufenthalt" if scope == "kategorie" else None,
                                   effective_at=_instant(day, rng)))
        else:
            referrals.append((rng.choice([p for p, _ in PARTNERS]), day))
    for n, (partner, on) in enumerate(referrals):
        _referral(h, rng, case_id, f"ref-{case_id}-{n}", partner, on)
    if rng.random() < 0.55:
        day += timedelta(days=rng.randrange(1, 90))
        if day <= END:
            agreed = rng.randrange(0, 6)
            add(c.CaseClosed(case_id=case_id, reason=rng.choice(["ziele_erreicht", "regeldienste", "wegzug",
                                                                  "kontakt_verloren"]),
                             closed_on=day, goals_agreed=agreed, goals_achieved=rng.randrange(0, agreed + 1),
                             duration_days=(day - opened).days))


def _status(h: History, add, rng: random.Random, case_id: str, status: str, day: date) -> None:
    if rng.random() < 0.2:  # an old producer: version 1, upcast on read
        v1 = c.ResidenceStatusRecordedV1(case_id=case_id, status=ResidenceStatus(status), perspective="gelb",
                                         recorded_on=day)
        add(v1, schema_version=1)
    else:
        add(c.ResidenceStatusRecorded(case_id=case_id, status=ResidenceStatus(status), perspective="gelb",
                                      recorded_on=day))


def _referral(h: History, rng: random.Random, case_id: str, referral_id: str, partner: str, on: date) -> None:
    add = lambda model: h.add("referrals", model)  # noqa: E731
    add(r.ReferralRequested(referral_id=referral_id, case_id=case_id, from_organisation_id="kreis-unna",
                            to_organisation_id=partner, purpose="aufenthaltssicherung", data_categories=["aufenthalt"],
                            consent_id=f"con-{case_id}", requested_at=_instant(on, rng)))
    day = on + timedelta(days=rng.randrange(0, 15))
    roll = rng.random()
    if roll < 0.65:
        add(r.ReferralAccepted(referral_id=referral_id, accepted_at=_instant(day, rng)))
        if rng.random() < 0.7:
            appointment = day + timedelta(days=rng.randrange(1, 30))
            add(r.AppointmentScheduled(referral_id=referral_id, appointment_on=appointment,
                                       scheduled_at=_instant(day, rng)))
        if rng.random() < 0.5:
            add(r.ReferralClosed(referral_id=referral_id, closed_at=_instant(day + timedelta(days=40), rng)))
    elif roll < 0.85:
        add(r.ReferralDeclined(referral_id=referral_id, reason="keine_kapazitaet", declined_at=_instant(day, rng)))
    elif roll < 0.92:
        add(r.ReferralRevoked(referral_id=referral_id, reason="einwilligung_widerrufen",
                              revoked_at=_instant(day, rng)))


def _staffing(h: History, rng: random.Random, seed: int, positions: int) -> None:
    add = lambda model: h.add("staffing", model)  # noqa: E731
    for b in "123":
        for year in (2024, 2025):
            add(s.GrantAwarded(grant_id=f"grant-{seed}-{b}-{year}", baustein=b, period_from=date(year, 1, 1),
                               period_to=date(year, 12, 31), vza=Decimal(rng.choice(["2", "5.5", "9"])),
                               rate_per_vza=Decimal("56000")))
    for i in range(positions):
        pid = f"pos-{seed}-{i}"
        vza = Decimal(rng.choice(["0.5", "1.0", "1.0", "0.75"]))
        start = START + timedelta(days=rng.randrange(200))
        end = start + timedelta(days=rng.randrange(200, 700)) if rng.random() < 0.4 else None
        add(s.PositionEstablished(position_id=pid, baustein=rng.choice("123"), vza=vza,
                                  host_organisation_id="kreis-unna", municipality=rng.choice(MUNICIPALITIES),
                                  funding_source="kim_land", valid_from=start, valid_to=end))
        day = start + timedelta(days=rng.randrange(60))
        while day < END:
            add(s.PositionFilled(position_id=pid, staff_member_id=f"st-{pid}", vza_share=vza, filled_on=day))
            day += timedelta(days=rng.randrange(60, 400))
            if day >= END:
                break
            add(s.PositionVacated(position_id=pid, staff_member_id=f"st-{pid}", vza_share=vza, vacated_on=day,
                                  reason="kuendigung"))
            day += timedelta(days=rng.randrange(10, 120))
