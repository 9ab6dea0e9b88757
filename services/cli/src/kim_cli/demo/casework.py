"""The dated casework of one demo case: residence status, consent, assessment, plan, reviews, goals, milestones,
pauses, transfers, referrals and the closure. Dates move forward from the opening and never pass the case's end."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import TYPE_CHECKING

from kim_cli.demo.data import JOBCENTER, PARTNER, POSITIONS

if TYPE_CHECKING:
    from kim_cli.demo.plans import CasePlan

RANK = {p: i for i, p in enumerate(("intake", "consent", "assessment", "integration_plan", "monitoring", "closed"))}
GOAL_PARTNER = {"aufenthalt": "abh-kreis-unna", "sprache": "mbe-diakonie", "arbeit": JOBCENTER, "wohnen": "awo-unna",
                "familie": "jugendamt-kreis-unna", "bildung": "jmd-luenen"}
GOAL_MILESTONES = {"sprache": ("sprachkurs_beginn", "sprachzertifikat"), "bildung": ("sprachkurs_beginn",),
                   "arbeit": ("beschaeftigung_beginn", "beschaeftigung_beginn", "ausbildung_beginn", "anerkennung"),
                   "wohnen": ("wohnung_gefunden",)}
IMPROVES = {"duldung_60a": ("ae_104c", "ae_25b", "duldung_60d"), "gestattung": ("ae_other",),
            "ae_104c": ("ae_25b", "ae_25a"), "ae_other": ("niederlassungserlaubnis",),
            "ae_25b": ("niederlassungserlaubnis",)}
PERSPECTIVE = {"gestattung": "gelb", "duldung_60a": "rot", "duldung_60d": "gelb", "ae_104c": "gelb", "ae_25a": "gruen",
               "ae_25b": "gruen", "ae_other": "gelb", "niederlassungserlaubnis": "gruen",
               "einbuergerung_beantragt": "gruen", "eingebuergert": "gruen"}
NOTES = ("Gespräch zu Sprachkurs und Wohnungssuche; nächste Schritte vereinbart.",
         "Unterlagen für die Ausländerbehörde gemeinsam vorbereitet.", "Bewerbungsunterlagen überarbeitet.",
         "Termin beim Jobcenter besprochen; Kinderbetreuung noch offen.", "Fortschritte im Sprachkurs, Motivation gut.")


class Clock:
    """Dates moving forward from start, never beyond end."""

    def __init__(self, rnd: random.Random, start: date, end: date):
        self.rnd, self.day, self.end = rnd, start, end

    def after(self, lo: int, hi: int) -> date:
        self.day = min(self.end, self.day + timedelta(days=self.rnd.randint(lo, hi)))
        return self.day


def fill(plan: CasePlan, rnd: random.Random, today: date) -> None:
    from kim_cli.demo.plans import ReferralPlan, Step

    closing = plan.phase == "closed"
    reached = rnd.choices(list(RANK)[:5], weights=(8, 8, 8, 14, 62))[0] if closing else plan.phase
    rank = RANK[reached]
    if closing:  # closures over the past two years, more of them recently (the programme grows)
        closed_on = today - timedelta(days=1 + int(699 * rnd.random() ** 1.6))
        plan.opened_on = closed_on - timedelta(days=rnd.randint(20 + rank * 30, 90 + rank * 120))
    end = closed_on if closing else today
    clock = Clock(rnd, plan.opened_on, end)
    steps, add = plan.steps, (lambda path, **body: plan.steps.append(Step(path, body)))
    ukrainian = plan.person.languages[0] == "uk"
    status = "ae_other" if ukrainian else ("einbuergerung_beantragt" if plan.team == "ebh-kreis-unna" else rnd.choice(
        ("gestattung", "duldung_60a", "duldung_60a", "ae_104c", "ae_other", "ae_25b")))
    add("residence-status", status=status, status_since=(plan.opened_on - timedelta(rnd.randint(30, 500))).isoformat(),
        perspective=PERSPECTIVE[status], recorded_on=plan.opened_on.isoformat())
    domains = rnd.sample(("arbeit", "sprache", "aufenthalt", "wohnen", "familie", "bildung"), rnd.randint(1, 3))
    if plan.team == "abh-kreis-unna" and "aufenthalt" not in domains:
        domains[0] = "aufenthalt"
    partners = list(dict.fromkeys(GOAL_PARTNER[d] for d in domains))
    if plan.municipality == "05978024":
        partners = ["abh-luenen" if p == "abh-kreis-unna" else p for p in partners]
    if plan.team == "ebh-kreis-unna":
        partners = ["ebh-kreis-unna", *partners]
    granted = None
    if rank >= 1:
        granted = clock.after(0, 10)
        valid_until = None if rnd.random() < 0.3 else granted + timedelta(days=365 * rnd.choice((2, 3)))
        add("consents", recipients=partners, purposes=sorted({PARTNER[p].purpose for p in partners}),
            data_categories=sorted({c for p in partners for c in PARTNER[p].categories} | {"fallverlauf"}),
            form=rnd.choice(("schriftlich", "schriftlich", "elektronisch")), informed_in=plan.person.languages[0],
            granted_on=granted.isoformat(), valid_until=valid_until and valid_until.isoformat())
    rechtskreis = "SGB_II" if ukrainian or status.startswith(("ae", "nieder", "einb")) else "AsylbLG"
    if rank >= 2:
        assessed = [{"domain": d, "need": rnd.choice(("mittel", "hoch")), "resources": rnd.choice(
            ("gering", "mittel"))} for d in dict.fromkeys([*domains, *rnd.sample(("gesundheit", "familie"), 1)])]
        add("assessment", assessed_on=clock.after(5, 30).isoformat(), domains=assessed, rechtskreis=rechtskreis)
    goals = {}
    if rank >= 3:
        agreed = clock.after(5, 30)
        goals = {f"g{n}": d for n, d in enumerate(domains, start=1)}
        add("plan", agreed_on=agreed.isoformat(), goals=[
            {"goal_id": g, "domain": d, "target_date": (agreed + timedelta(days=rnd.randint(180, 400))).isoformat(),
             "responsible_organisation_id": partners[min(i, len(partners) - 1)] if d != "aufenthalt" else
             next(p for p in partners if p.startswith(("abh", "ebh")))}
            for i, (g, d) in enumerate(goals.items())])
    achieved = 0
    if rank >= 4:
        add("reviews", held_on=clock.after(20, 60).isoformat(), notes=rnd.choice(NOTES))
        if not closing and rnd.random() < 0.08:
            add("pause", reason=rnd.choice(("krankheit", "auslandsaufenthalt", "auf_wunsch")),
                paused_on=clock.after(5, 30).isoformat())
            add("resume", resumed_on=clock.after(14, 60).isoformat())
        for goal, domain in goals.items():
            fate = rnd.random() if not closing else rnd.random() * 0.6
            day = clock.after(10, 90)
            if fate < 0.5:
                achieved += 1
                for milestone in GOAL_MILESTONES.get(domain, ())[:1] if domain != "arbeit" else [
                        rnd.choice(GOAL_MILESTONES["arbeit"])]:
                    add("milestones", milestone=milestone, reached_on=day.isoformat())
                if domain == "sprache":
                    add("milestones", milestone="sprachzertifikat", reached_on=clock.after(30, 120).isoformat(),
                        language_level=rnd.choice(("A2", "B1", "B1", "B2")))
                add(f"goals/{goal}/achieved", achieved_on=day.isoformat())
            elif fate < 0.6:
                add(f"goals/{goal}/dropped", reason=rnd.choice(("nicht_mehr_relevant", "nicht_erreichbar")),
                    dropped_on=day.isoformat())
        if status in IMPROVES and rnd.random() < 0.45:
            better = rnd.choice(IMPROVES[status])
            day = clock.after(20, 120)
            add("residence-status", status=better, status_since=day.isoformat(), perspective=PERSPECTIVE[better],
                recorded_on=day.isoformat())
            if rechtskreis == "AsylbLG":
                add("rechtskreis", current="SGB_II", changed_on=day.isoformat())
        if status == "einbuergerung_beantragt" and rnd.random() < 0.5:
            day = clock.after(30, 200)
            add("residence-status", status="eingebuergert", status_since=day.isoformat(),
                perspective="gruen", recorded_on=day.isoformat())
            add("milestones", milestone="eingebuergert", reached_on=day.isoformat())
        for _ in range(rnd.randint(0, 2)):
            add("reviews", held_on=clock.after(45, 120).isoformat(), notes=rnd.choice(NOTES))
        if not closing and rnd.random() < 0.04 and plan.team == "kreis-unna":
            _transfer(plan, rnd, clock)
        if not closing and rnd.random() < 0.06:
            add("pause", reason=rnd.choice(("krankheit", "kein_kontakt", "auslandsaufenthalt")),
                paused_on=clock.after(1, 20).isoformat())
    if rank >= 3 and (not closing or closed_on >= today - timedelta(days=90)):
        consent = next(s for s in steps if s.path == "consents").body
        if consent["valid_until"] is None or date.fromisoformat(consent["valid_until"]) >= today:
            for partner in partners[:rnd.randint(1, 2)]:
                fate = rnd.choices(("requested", "declined", "accepted", "appointment", "outcome", "closed"),
                                   weights=(15, 8, 10, 17, 20, 30) if not closing else (0, 1, 0, 0, 0, 4))[0]
                outcome = "nicht_erschienen" if rnd.random() < 0.05 else rnd.choice(PARTNER[partner].outcomes)
                plan.referrals.append(ReferralPlan(partner, fate, outcome, rnd.choice(
                    ("nicht_zustaendig", "keine_kapazitaet", "voraussetzungen_fehlen")), rnd.randint(3, 40)))
    final = plan.final_steps
    if closing:
        if rank >= 4 and achieved:
            reason = rnd.choices(("ziele_erreicht", "regeldienste"), weights=(7, 3))[0]
        else:
            reason = rnd.choices(("kontakt_verloren", "wegzug", "abbruch", "sonstiges", "einwilligung_widerrufen"),
                                 weights=(35, 25, 20, 10, 10 if granted else 0))[0]
        if reason == "einwilligung_widerrufen":
            final.append(Step("consents/{consent_id}/withdrawal", {"scope": "alle"}))
        final.append(Step("closure", {"reason": reason, "closed_on": closed_on.isoformat()}))
    elif len(partners) > 1 and granted and rnd.random() < 0.08:
        final.append(Step("consents/{consent_id}/withdrawal", {"scope": "empfaenger", "recipient": partners[-1]}))


def _transfer(plan: CasePlan, rnd: random.Random, clock: Clock) -> None:
    from kim_cli.demo.plans import Step

    others = [p for p in POSITIONS if p.host == "kreis-unna" and p.filled_by and p.baustein == "2"
              and p.municipality != plan.municipality]
    target = rnd.choice(others)
    plan.steps.append(Step("transfer", {"municipality": target.municipality, "team": "kreis",
                                        "team_organisation_id": "kreis-unna", "case_manager_id": target.filled_by,
                                        "transferred_on": clock.after(5, 40).isoformat()}))
    plan.final_manager, plan.final_municipality = target.filled_by, target.municipality
