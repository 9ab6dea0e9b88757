"""Seed the demo through the services' HTTP APIs, so every rule applies and every event flows over Kafka.

Order: the organisation (partners, grants, positions), then each client's case with its dated casework, then the
referrals and the partners' answers, then withdrawals and closures (a closure revokes what is still open), then
wait until the reporting projections have caught up, so the dashboard shows everything.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from kim_cli.demo import organisation
from kim_cli.demo.api import ADMIN, Api, DemoError, manager, partner, team_lead
from kim_cli.demo.plans import CasePlan, ReferralPlan

FATE_COMMANDS = {"requested": 1, "declined": 3, "accepted": 2, "appointment": 3, "outcome": 4, "closed": 5}


@dataclass
class Seeded:
    case_ids: dict[int, str] = field(default_factory=dict)  # plan index -> case id
    consent_ids: dict[int, str] = field(default_factory=dict)
    phases: Counter = field(default_factory=Counter)
    referrals: Counter = field(default_factory=Counter)
    seconds: float = 0.0


def commands(plans: list[CasePlan], today: date) -> int:
    return organisation.commands(today) + sum(
        2 + len(p.steps) + len(p.final_steps) + bool(p.reassign_to)
        + sum(FATE_COMMANDS[r.fate] for r in p.referrals) for p in plans)


async def is_seeded(api: Api) -> bool:
    """Seeded once the cases service holds any case (the demo never runs against a store in use)."""
    return bool(await api.call(ADMIN, "GET", "cases", "/cases?limit=1"))


async def seed(api: Api, plans: list[CasePlan], today: date, tick: Callable[[], None] = lambda: None,
               concurrency: int = 8) -> Seeded:
    t0 = time.monotonic()
    done = Seeded()
    await organisation.seed_organisation(api, today, tick)
    gate = asyncio.Semaphore(concurrency)

    async def each(step) -> None:
        async def one(plan: CasePlan) -> None:
            async with gate:
                await step(api, plan, done, tick)

        await asyncio.gather(*(one(p) for p in plans))

    for step in (_casework, _referrals, _finish):
        await each(step)
    await _caught_up(api)
    await _listed(api, len(plans))
    done.seconds = time.monotonic() - t0
    return done


async def _casework(api: Api, plan: CasePlan, done: Seeded, tick) -> None:
    who = manager(plan.case_manager, plan.team, plan.municipality)
    client = await api.call(who, "POST", "cases", "/clients", plan.person.body())
    tick()
    case = await api.call(who, "POST", "cases", "/cases", {"client_id": client["client_id"], **plan.open_body()})
    tick()
    case_id = done.case_ids[plan.index] = case["case_id"]
    for step in plan.steps:
        answer = await api.call(who, "POST", "cases", f"/cases/{case_id}/{step.path}", step.body)
        tick()
        if step.path == "consents":
            done.consent_ids[plan.index] = answer["consent_id"]
        if step.path == "transfer":
            who = manager(plan.final_manager, plan.final_team, plan.final_municipality)


async def _referrals(api: Api, plan: CasePlan, done: Seeded, tick) -> None:
    who = manager(plan.final_manager, plan.final_team, plan.final_municipality)
    for r in plan.referrals:
        await _referral(api, who, done.case_ids[plan.index], r, tick)
        done.referrals[r.fate] += 1


async def _referral(api: Api, who, case_id: str, r: ReferralPlan, tick) -> None:
    from kim_cli.demo.data import PARTNER

    p = PARTNER[r.partner]
    made = await api.call(who, "POST", "referrals", "/referrals", {
        "case_id": case_id, "to_organisation_id": p.organisation_id, "purpose": p.purpose,
        "data_categories": list(p.categories), "due_on": (date.today() + timedelta(days=30)).isoformat()},
        settle=True)  # the referrals service learns of the case and its consent over Kafka
    tick()
    path, org = f"/partner/referrals/{made['partner_referral_id']}", partner(p.organisation_id)  # the partner's id
    if r.fate == "requested":
        return
    if r.fate == "declined":
        await api.call(org, "POST", "referrals", f"{path}/decline", {"reason": r.decline_reason})
        await api.call(who, "POST", "referrals", f"/referrals/{made['referral_id']}/close")
        tick(), tick()
        return
    await api.call(org, "POST", "referrals", f"{path}/accept")
    tick()
    if r.fate == "accepted":
        return
    appointment = date.today() + timedelta(days=r.appointment_in_days)
    await api.call(org, "POST", "referrals", f"{path}/appointment", {"appointment_on": appointment.isoformat()})
    tick()
    if r.fate == "appointment":
        return
    await api.call(org, "POST", "referrals", f"{path}/outcome", {"outcome": r.outcome})
    tick()
    if r.fate == "closed":
        await api.call(who, "POST", "referrals", f"/referrals/{made['referral_id']}/close")
        tick()


async def _finish(api: Api, plan: CasePlan, done: Seeded, tick) -> None:
    who = manager(plan.final_manager, plan.final_team, plan.final_municipality)
    case_id = done.case_ids[plan.index]
    for step in plan.final_steps:
        path = step.path.format(consent_id=done.consent_ids.get(plan.index))
        await api.call(who, "POST", "cases", f"/cases/{case_id}/{path}", step.body)
        tick()
    if plan.reassign_to:
        await api.call(team_lead(plan.final_team), "PUT", "staffing", f"/cases/{case_id}/case-manager",
                       {"staff_member_id": plan.reassign_to}, settle=True)
        tick()
    done.phases[plan.phase] += 1


async def _listed(api: Api, cases: int, timeout_s: float = 60) -> None:
    """Wait until the cases service's own list (its case_overview projection, fed from Kafka) shows every case."""
    deadline, shown = time.monotonic() + timeout_s, min(max(cases, 1), 1000)  # the list's largest page
    while len(await api.call(ADMIN, "GET", "cases", f"/cases?limit={shown}")) < min(cases, shown):
        if time.monotonic() > deadline:
            raise DemoError(f"GET /cases does not list all {cases} demo cases after {timeout_s:.0f} s; see the "
                            "cases service's log")
        await asyncio.sleep(0.3)


async def _caught_up(api: Api, timeout_s: float = 60) -> None:
    """Wait until every reporting projection has handled what is on Kafka (twice in a row, to let relays finish)."""
    deadline, quiet = time.monotonic() + timeout_s, 0
    while quiet < 2:
        lag = await api.call(ADMIN, "GET", "reporting", "/lag")
        behind = sum(p.get("events_behind") or 0 for p in lag["projections"])
        quiet = quiet + 1 if behind == 0 else 0
        if time.monotonic() > deadline:
            raise DemoError(f"the reporting projections are still {behind} events behind after {timeout_s:.0f} s; "
                            "see GET /lag on the reporting service and its log")
        await asyncio.sleep(0.3)
