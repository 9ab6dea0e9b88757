"""The dated casework of one demo case, phase by phase: residence status at intake, consent, assessment, plan,
then monitoring (reviews, goals, milestones, status improvements, pauses, a transfer). Dates move forward from the
opening and never pass the case's end (its closure, or today). Referrals and the closure: endings.py."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING

from kim_cli.demo import endings
from kim_cli.demo.data import JOBCENTER, PARTNER, POSITIONS

if TYPE_CHECKING:
    from kim_cli.demo.plans import CasePlan

RANK = {p: i for i, p in enumerate(("intake", "consent", "assessment", "integration_plan", "monitoring", "closed"))}
GOAL_PARTNER = {"aufenthalt": "abh-kreis-unna", "sprache": "mbe-diakonie", "arbeit": JOBCENTER, "wohnen": "awo-unna",
                "familie": "jugendamt-kreis-unna", "bildung": "jmd-luenen"}
GOAL_MILESTONES = {"sprache": ("sprachkurs_beginn",), "bildung": ("sprachkurs_beginn",),
                   "wohnen": ("wohnung_gefunden",),
                   "arbeit": ("beschaeftigung_beginn", "beschaeftigung_beginn", "ausbildung_beginn", "anerkennung")}
IMPROVES = {"duldung_60a": ("ae_104c", "ae_25b", "duldung_60d"), "gestattung": ("ae_other",),
            "ae_104c": ("ae_25b", "ae_25a"), "ae_other": ("niederlassungserlaubnis",),
            "ae_25b": ("niederlassungserlaubnis",)}
PERSPECTIVE = {"gestattung": "gelb", "duldung_60a": "rot", "duldung_60d": "gelb", "ae_104c": "gelb", "ae_25a": "gruen",
               "ae_25b": "gruen", "ae_other": "gelb", "niederlassungserlaubnis": "gruen",
               "einbuergerung_beantragt": "gruen", "eingebuergert": "gruen"}
NOTES = ("Gespräch zu Sprachkurs und Wohnungssuche; nächste Schritte vereinbart.",
         "Unterlagen für die Ausländerbehörde gemeinsam vorbereitet.", "Bewerbungsunterlagen überarbeitet.",
         "Termin beim Jobcenter besprochen; Kinderbetreuung noch offen.", "Fortschritte im Sprachkurs, Motivation gut.")


@dataclass
class CaseWork:
    plan: CasePlan
    rnd: random.Random
    today: date
    rank: int  # the last phase the case reaches before it ends
    closed_on: date | None = None
    day: date = field(init=False)
    partners: list[str] = field(default_factory=list)  # whom the consent names
    domains: list[str] = field(default_factory=list)  # where the client needs support (goals)
    achieved: int = 0
    granted: bool = False

    def __post_init__(self):
        self.day = self.plan.opened_on

    @property
    def end(self) -> date:
        return self.closed_on or self.today

    def after(self, lo: int, hi: int) -> str:
        """A day lo..hi days after the previous step (capped at the case's end), as ISO text."""
        self.day = min(self.end, self.day + timedelta(days=self.rnd.randint(lo, hi)))
        return self.day.isoformat()

    def add(self, path: str, **body) -> None:
        from kim_cli.demo.plans import Step

        self.plan.steps.append(Step(path, body))


def fill(plan: CasePlan, rnd: random.Random, today: date) -> None:
    """Plan the case's steps (plan.steps), referrals and ending (plan.referrals, plan.final_steps)."""
    closing = plan.phase == "closed"
    rank = RANK[rnd.choices(list(RANK)[:5], weights=(8, 8, 8, 14, 62))[0] if closing else plan.phase]
    closed_on = None
    if closing:  # closures over the past two years, more of them recently (the programme grows)
        closed_on = today - timedelta(days=1 + int(699 * rnd.random() ** 1.6))
        plan.opened_on = closed_on - timedelta(days=rnd.randint(20 + rank * 30, 90 + rank * 120))
    w = CaseWork(plan, rnd, today, rank, closed_on)
    status = _intake(w)
    rechtskreis = "SGB_II" if status.startswith(("ae", "nieder", "einb")) else "AsylbLG"
    if rank >= 1:
        _consent(w)
    if rank >= 2:
        w.add("assessment", assessed_on=w.after(5, 30), rechtskreis=rechtskreis, domains=[
            {"domain": d, "need": rnd.choice(("mittel", "hoch")), "resources": rnd.choice(("gering", "mittel"))}
            for d in dict.fromkeys([*w.domains, rnd.choice(("gesundheit", "familie"))])])
    goals = _plan(w) if rank >= 3 else {}
    if rank >= 4:
        _monitoring(w, goals, status, rechtskreis)
    endings.plan_ending(w)


def _intake(w: CaseWork) -> str:
    """The residence status at intake and where the client needs support; returns the status."""
    plan, rnd = w.plan, w.rnd
    status = "ae_other" if plan.person.languages[0] == "uk" else (
        "einbuergerung_beantragt" if plan.team == "ebh-kreis-unna" else
        rnd.choice(("gestattung", "duldung_60a", "duldung_60a", "ae_104c", "ae_other", "ae_25b")))
    since = plan.opened_on - timedelta(rnd.randint(30, 500))
    w.add("residence-status", status=status, status_since=since.isoformat(), perspective=PERSPECTIVE[status],
          recorded_on=plan.opened_on.isoformat())
    w.domains = rnd.sample(("arbeit", "sprache", "aufenthalt", "wohnen", "familie", "bildung"), rnd.randint(1, 3))
    if plan.team == "abh-kreis-unna" and "aufenthalt" not in w.domains:
        w.domains[0] = "aufenthalt"
    abh = "abh-luenen" if plan.municipality == "05978024" else "abh-kreis-unna"
    w.partners = list(dict.fromkeys(abh if d == "aufenthalt" else GOAL_PARTNER[d] for d in w.domains))
    if plan.team == "ebh-kreis-unna":
        w.partners.insert(0, "ebh-kreis-unna")
    return status


def _consent(w: CaseWork) -> None:
    granted = date.fromisoformat(w.after(0, 10))
    valid_until = None if w.rnd.random() < 0.3 else granted + timedelta(days=365 * w.rnd.choice((2, 3)))
    w.add("consents", recipients=w.partners, purposes=sorted({PARTNER[p].purpose for p in w.partners}),
          data_categories=sorted({c for p in w.partners for c in PARTNER[p].categories} | {"fallverlauf"}),
          form=w.rnd.choice(("schriftlich", "schriftlich", "elektronisch")), informed_in=w.plan.person.languages[0],
          granted_on=granted.isoformat(), valid_until=valid_until and valid_until.isoformat())
    w.granted = True


def _plan(w: CaseWork) -> dict[str, str]:
    """The integration plan: one goal per domain, each with the partner responsible; returns {goal id: domain}."""
    agreed = date.fromisoformat(w.after(5, 30))
    goals = {f"g{n}": d for n, d in enumerate(w.domains, start=1)}
    w.add("plan", agreed_on=agreed.isoformat(), goals=[
        {"goal_id": g, "domain": d, "target_date": (agreed + timedelta(days=w.rnd.randint(180, 400))).isoformat(),
         "responsible_organisation_id": w.partners[-len(w.domains) + i]} for i, (g, d) in enumerate(goals.items())])
    return goals


def _monitoring(w: CaseWork, goals: dict[str, str], status: str, rechtskreis: str) -> None:
    rnd, closing = w.rnd, w.closed_on is not None
    w.add("reviews", held_on=w.after(20, 60), notes=rnd.choice(NOTES))
    if not closing and rnd.random() < 0.08:
        w.add("pause", reason=rnd.choice(("krankheit", "auslandsaufenthalt", "auf_wunsch")), paused_on=w.after(5, 30))
        w.add("resume", resumed_on=w.after(14, 60))
    for goal, domain in goals.items():
        fate, day = rnd.random() * (0.6 if closing else 1), w.after(10, 90)
        if fate < 0.5:
            w.achieved += 1
            if domain in GOAL_MILESTONES:
                w.add("milestones", milestone=rnd.choice(GOAL_MILESTONES[domain]), reached_on=day)
            if domain == "sprache":
                w.add("milestones", milestone="sprachzertifikat", reached_on=w.after(30, 120),
                      language_level=rnd.choice(("A2", "B1", "B1", "B2")))
            w.add(f"goals/{goal}/achieved", achieved_on=day)
        elif fate < 0.6:
            w.add(f"goals/{goal}/dropped", reason=rnd.choice(("nicht_mehr_relevant", "nicht_erreichbar")),
                  dropped_on=day)
    if status in IMPROVES and rnd.random() < 0.45:
        better, day = rnd.choice(IMPROVES[status]), w.after(20, 120)
        w.add("residence-status", status=better, status_since=day, perspective=PERSPECTIVE[better], recorded_on=day)
        if rechtskreis == "AsylbLG":
            w.add("rechtskreis", current="SGB_II", changed_on=day)
    if status == "einbuergerung_beantragt" and rnd.random() < 0.5:
        day = w.after(30, 200)
        w.add("residence-status", status="eingebuergert", status_since=day, perspective="gruen", recorded_on=day)
        w.add("milestones", milestone="eingebuergert", reached_on=day)
    for _ in range(rnd.randint(0, 2)):
        w.add("reviews", held_on=w.after(45, 120), notes=rnd.choice(NOTES))
    if not closing and rnd.random() < 0.04 and w.plan.team == "kreis-unna":
        _transfer(w)
    if not closing and rnd.random() < 0.06:
        w.add("pause", reason=rnd.choice(("krankheit", "kein_kontakt", "auslandsaufenthalt")), paused_on=w.after(1, 20))


def _transfer(w: CaseWork) -> None:
    """The client moves within the county: the case goes to the county team's case manager there."""
    plan = w.plan
    target = w.rnd.choice([p for p in POSITIONS if p.host == "kreis-unna" and p.filled_by and p.baustein == "2"
                           and p.municipality != plan.municipality])
    w.add("transfer", municipality=target.municipality, team="kreis", team_organisation_id="kreis-unna",
          case_manager_id=target.filled_by, transferred_on=w.after(5, 40))
    plan.final_manager, plan.final_municipality = target.filled_by, target.municipality
