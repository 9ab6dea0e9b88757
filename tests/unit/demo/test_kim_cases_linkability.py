"""Can a reader of kim.cases single a client out? k-anonymity counts on the demo data (the 250 clients `kim demo
seed` posts, planned by kim_cli.demo.plans, whose dates reach kim.cases as they are posted) for the quasi-identifiers
the topic carries in clear: the case's municipality with a date of its intake.

What it shows (issue 15, item 2), printed as figures: municipality + the opening day (CaseOpened.opened_on) make
240 of 250 clients unique. Reducing opened_on alone (to its month or week) would not change that, because the intake
puts the same day in clear on other events the consumers need at day precision: the residence status recorded at
intake (ResidenceStatusRecorded.recorded_on, reporting's status mix and the consent gate) is the opening day for
every client, and the first consent's granted_on (the gate's validity, day-precise by law) lies 0-10 days later.
So the contract is not changed for this: the counts below are the evidence, and schemas/README.md ("What kim.cases
links") says where the protection lies instead (the topic is personal data under the Kafka ACLs: only the Kreis's
services read it; partners get their own derived topics)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable
from datetime import date

from kim_cli.demo.plans import DEFAULT_CLIENTS, CasePlan, plan_clients

TODAY = date(2026, 12, 3)  # plans are deterministic for a seed and a day


def _first(plan: CasePlan, path: str, field: str) -> str | None:
    return next((s.body[field] for s in plan.steps if s.path == path and s.body.get(field)), None)


def k_anonymity(plans: list[CasePlan], key: Callable[[CasePlan], Hashable]) -> tuple[int, int, int]:
    """(clients alone in their group (k = 1), clients in groups smaller than 5, the smallest group)."""
    keys = [key(p) for p in plans]
    size = Counter(keys)
    return sum(size[k] == 1 for k in keys), sum(size[k] < 5 for k in keys), min(size.values())


QUASI = {
    "municipality + opening day (CaseOpened.opened_on)": lambda p: (p.municipality, p.opened_on),
    "municipality + opening week": lambda p: (p.municipality, p.opened_on.isocalendar()[:2]),
    "municipality + opening month": lambda p: (p.municipality, p.opened_on.isoformat()[:7]),
    "municipality + opening quarter": lambda p: (p.municipality, p.opened_on.year, (p.opened_on.month - 1) // 3),
    "municipality + intake residence status's recorded_on": lambda p: (
        p.municipality, _first(p, "residence-status", "recorded_on")),
    "municipality + first consent's granted_on": lambda p: (p.municipality, _first(p, "consents", "granted_on")),
}


def test_how_many_demo_clients_kim_cases_singles_out():
    plans = plan_clients(DEFAULT_CLIENTS, today=TODAY)
    figures = {name: k_anonymity(plans, key) for name, key in QUASI.items()}
    print(f"\n{len(plans)} demo clients: unique (k=1) / in groups under 5 / smallest group")
    for name, (alone, small, smallest) in figures.items():
        print(f"  {name}: {alone} / {small} / {smallest}")

    day, week, month, quarter, residence, consent = figures.values()
    assert day[0] == 240  # the finding, reproduced
    assert month[0] < week[0] < day[0] and quarter[0] < month[0]  # coarser opening dates do single out fewer...
    # ...but the intake records the opening day in clear again: every client's first residence status is recorded
    # on the day the case was opened, so reducing opened_on alone leaves exactly as many clients unique
    assert all(_first(p, "residence-status", "recorded_on") == p.opened_on.isoformat() for p in plans)
    assert residence == day
    # and the consent the gate checks by the day (granted_on, 0-10 days after opening) singles out nearly as many
    assert consent[0] > 0.8 * day[0]
