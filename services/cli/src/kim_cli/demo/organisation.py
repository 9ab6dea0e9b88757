"""The organisation behind the cases: partner registry, KIM grants and the positions of the team (19 of 29 filled).

Dates are relative to today: the grants run from January two years ago to the end of this year.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, timedelta

from kim_cli.demo.api import ADMIN, Api, team_lead
from kim_cli.demo.data import GRANTS, PARTNERS, POSITIONS, PositionPlan

LEAD = team_lead("kreis-unna")


def period(today: date) -> tuple[date, date]:
    return date(today.year - 2, 1, 1), date(today.year, 12, 31)


def grant_id(baustein: str, today: date) -> str:
    first, last = period(today)
    return f"kim-baustein{baustein}-{first.year}-{last.year}"


def commands(today: date) -> int:
    """How many commands `seed_organisation` sends (for the progress bar)."""
    return (len(PARTNERS) + len(GRANTS) + len(POSITIONS) + sum(bool(p.from_programme) for p in POSITIONS)
            + sum(2 * bool(p.predecessor) + bool(p.filled_by) for p in POSITIONS))


async def seed_organisation(api: Api, today: date, tick: Callable[[], None]) -> None:
    async def call(who, method, service, path, body) -> None:
        await api.call(who, method, service, path, body, ok=(409,))  # 409: there already (a repeated seed)
        tick()

    for p in PARTNERS:
        await call(ADMIN, "POST", "referrals", "/partners", {
            "organisation_id": p.organisation_id, "name": p.name, "kind": p.kind, "public_body": p.public_body,
            "municipality": p.municipality})
    first, last = period(today)
    for baustein, (vza, rate) in GRANTS.items():
        await call(LEAD, "POST", "staffing", "/grants", {
            "grant_id": grant_id(baustein, today), "baustein": baustein, "period_from": first.isoformat(),
            "period_to": last.isoformat(), "vza": vza, "rate_per_vza": rate,
            "reference": f"BR Arnsberg 36.08-KIM-{first.year}/{baustein}"})
    for n, p in enumerate(POSITIONS):
        await _position(call, p, n, first, last, today)


async def _position(call: Callable[..., Awaitable[None]], p: PositionPlan, n: int, first: date, last: date,
                    today: date) -> None:
    path = f"/positions/{p.position_id}"
    valid_from = date(first.year + 1, 7, 1) if p.later else first
    await call(LEAD, "POST", "staffing", "/positions", {
        "position_id": p.position_id, "baustein": p.baustein, "vza": "1.0", "host_organisation_id": p.host,
        "municipality": p.municipality, "funding_source": "anderes_programm" if p.from_programme else "kim_land",
        "grant_id": None if p.from_programme else grant_id(p.baustein, today), "valid_from": valid_from.isoformat(),
        "valid_to": last.isoformat()})
    if p.from_programme:
        await call(LEAD, "POST", "staffing", f"{path}/transfer", {
            "from_programme": p.from_programme, "grant_id": grant_id(p.baustein, today),
            "transferred_on": date(first.year + 1, 1, 1).isoformat()})
    filled_on = first + timedelta(days=(n * 37) % 420)
    if p.predecessor:
        left = first + timedelta(days=200 + n * 5)
        await call(LEAD, "POST", "staffing", f"{path}/fill", {
            "staff_member_id": p.predecessor, "vza_share": "1.0", "filled_on": first.isoformat()})
        await call(LEAD, "POST", "staffing", f"{path}/vacate", {
            "staff_member_id": p.predecessor, "vacated_on": left.isoformat(),
            "reason": ("kuendigung", "elternzeit", "befristung")[n % 3]})
        filled_on = left + timedelta(days=45 + n)
    if p.filled_by:
        await call(LEAD, "POST", "staffing", f"{path}/fill", {
            "staff_member_id": p.filled_by, "vza_share": "1.0", "filled_on": min(filled_on, today).isoformat()})
