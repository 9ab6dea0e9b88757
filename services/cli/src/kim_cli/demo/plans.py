"""What happens to each demo client: where they live, who works with them, and the dated steps of their case.

`plan_clients(n, seed, today)` is pure and deterministic: the seeder (seed.py) only carries the plans out through
the HTTP APIs. Phases are spread so that every phase is present; closed cases spread over the past two years.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from kim_cli.demo import casework
from kim_cli.demo.data import LOCAL_TEAMS, MUNICIPALITIES, PARTNER, POSITIONS, TEAMS, Municipality
from kim_cli.demo.people import Person, person

DEFAULT_CLIENTS = 250  # a few hundred: seeds in about a minute on a 2-core machine
PHASES = ("intake", "consent", "assessment", "integration_plan", "monitoring", "closed")
PHASE_WEIGHTS = (6, 7, 9, 12, 30, 36)
ACCESS_CHANNELS = {"selbstmeldung": 25, "auslaenderbehoerde": 15, "jobcenter": 15, "migrationsberatung": 12,
                   "wohlfahrtsverband": 8, "sozialamt": 6, "ehrenamt": 6, "aufsuchend": 4, "jugendamt": 3,
                   "schule": 3, "agentur_fuer_arbeit": 2, "sonstige": 1}
# how long ago an active case in this phase was opened (days)
OPENED_AGO = {"intake": (1, 30), "consent": (5, 60), "assessment": (20, 120), "integration_plan": (40, 240),
              "monitoring": (90, 700)}


@dataclass(frozen=True)
class Step:
    """One command on the case: POST /cases/{case_id}/<path> with body ({consent_id} is filled in when known)."""

    path: str
    body: dict


@dataclass(frozen=True)
class ReferralPlan:
    partner: str
    fate: str  # requested, declined, accepted, appointment, outcome, closed
    outcome: str
    decline_reason: str
    appointment_in_days: int


@dataclass
class CasePlan:
    index: int
    person: Person
    municipality: str
    team: str
    case_manager: str
    access_channel: str
    opened_on: date
    phase: str  # the phase the case ends in
    steps: list[Step] = field(default_factory=list)  # casework, in order, all dated
    referrals: list[ReferralPlan] = field(default_factory=list)
    final_steps: list[Step] = field(default_factory=list)  # after the referrals: withdrawal, closure
    reassign_to: str | None = None  # staffing names another case manager of the team
    final_team: str = ""
    final_manager: str = ""
    final_municipality: str = ""

    @property
    def baustein(self) -> str:
        return TEAMS[self.team].baustein

    def open_body(self) -> dict:
        return {"municipality": self.municipality, "baustein": self.baustein, "team": TEAMS[self.team].kind,
                "team_organisation_id": self.team, "case_manager_id": self.case_manager,
                "access_channel": self.access_channel, "opened_on": self.opened_on.isoformat()}


def case_managers(team: str) -> list[tuple[str, str]]:
    """(staff member id, municipality of their position) of the team's filled Baustein 2/3 positions."""
    return [(p.filled_by, p.municipality) for p in POSITIONS if p.host == team and p.filled_by and p.baustein != "1"]


def _team(rnd: random.Random, home: Municipality) -> str:
    if rnd.random() < 0.12:
        return "ebh-kreis-unna" if rnd.random() < 0.35 else "abh-kreis-unna"
    teams = LOCAL_TEAMS.get(home.ags, (("kreis-unna", 1.0),))
    return rnd.choices([t for t, _ in teams], weights=[w for _, w in teams])[0]


def _manager(rnd: random.Random, team: str, ags: str) -> str:
    staff = case_managers(team)
    local = [s for s, m in staff if m == ags]
    return rnd.choice(local or [s for s, _ in staff])


def plan_clients(n: int, seed: int = 2024, today: date | None = None) -> list[CasePlan]:
    today = today or date.today()
    rnd = random.Random(seed)
    plans = []
    for i in range(n):
        home = rnd.choices(MUNICIPALITIES, weights=[m.population for m in MUNICIPALITIES])[0]
        phase = PHASES[i % len(PHASES)] if i < len(PHASES) else rnd.choices(PHASES, weights=PHASE_WEIGHTS)[0]
        team = _team(rnd, home)
        manager = _manager(rnd, team, home.ags)
        # a closed case's dates are set back from its closure by casework.fill
        opened = today if phase == "closed" else today - timedelta(days=rnd.randint(*OPENED_AGO[phase]))
        plan = CasePlan(i, person(rnd, home, today), home.ags, team, manager,
                        rnd.choices(list(ACCESS_CHANNELS), weights=list(ACCESS_CHANNELS.values()))[0], opened, phase,
                        final_team=team, final_manager=manager, final_municipality=home.ags)
        casework.fill(plan, rnd, today)
        if phase != "closed" and rnd.random() < 0.05 and len(case_managers(team)) > 1:
            plan.reassign_to = rnd.choice([s for s, _ in case_managers(team) if s != manager])
        plans.append(plan)
    return plans


def partners_of(plan: CasePlan) -> list[str]:
    """The partners the client's consent names (from the consent step), in order."""
    consent = next((s for s in plan.steps if s.path == "consents"), None)
    return [r for r in consent.body["recipients"] if r in PARTNER] if consent else []
