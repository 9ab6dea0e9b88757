"""The worklist (Wiedervorlage) with a moved clock (issue 19): each follow-up (a review falling due, a pause planned
to end, a referral without an answer by due_on, an appointment passed without an outcome) appears on
GET /worklist on its day, is flagged once the scheduler recorded its follow-up event, turns overdue when left, and
leaves the list when handled. Only the cases in the caller's reach; oldest first. Both real services over Kafka."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from kim_runtime.auth import Role
from kim_runtime.scheduler import ManualClock, start_of

from tests.scheduling import settled

from .support import AGS, ensure_topics, eventually, new_org, partner, referrals_service, register, token
from .with_cases import CASEWORKER, TEAM_LEAD, Kreis, cases_service, ok

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
T = date.today()
OTHER_TEAM = token(Role.CASE_MANAGER, sub="cm-9", team="stadt-unna", municipality="05978036")
COLLEAGUE = token(Role.CASE_MANAGER, sub="cm-0007", team="stadt-luenen", municipality=AGS)


def day(n: int) -> str:
    return (T + timedelta(days=n)).isoformat()


async def listed(cases, due: str, headers=CASEWORKER, whose: str | None = None) -> list[tuple[str, str, bool]]:
    params = {"due": due} | ({"whose": whose} if whose else {})
    body = await ok(await cases.get("/worklist", headers=headers, params=params))
    return [(i["kind"], i["due_on"], i["fell_due"]) for i in body["items"]]


async def test_each_follow_up_appears_on_its_day_and_leaves_when_handled(fresh_db, cases_db, kafka_bootstrap):
    await ensure_topics(kafka_bootstrap, "kim.cases", "kim.referrals")
    abh = new_org("abh")
    clock = ManualClock(datetime.now(UTC))
    async with cases_service(cases_db, kafka_bootstrap, clock=clock) as cases, \
            referrals_service(fresh_db, kafka_bootstrap, cases_transport=cases.internal, clock=clock) as refs:
        kreis = Kreis(cases, refs)
        await register(refs, abh, "abh")
        _, reviewed = await kreis.client_with_case("Oleksandr Kovalenko")
        await kreis.consent(reviewed, [abh], granted_on=T)
        await ok(await cases.post(f"/cases/{reviewed}/assessment", headers=CASEWORKER, json={
            "assessed_on": T.isoformat(), "rechtskreis": "SGB_II",
            "domains": [{"domain": "familie", "need": "hoch", "resources": "mittel"}]}))
        await ok(await cases.post(f"/cases/{reviewed}/plan", headers=CASEWORKER, json={
            "agreed_on": T.isoformat(), "goals": [{"goal_id": "g1", "domain": "familie", "target_date": day(90),
                                                  "responsible_organisation_id": "awo"}]}), 201)
        await ok(await cases.post(f"/cases/{reviewed}/reviews", headers=CASEWORKER,
                                  json={"held_on": T.isoformat(), "next_review_on": day(3)}), 201)
        _, paused = await kreis.client_with_case("Iryna Melnyk")
        await ok(await cases.post(f"/cases/{paused}/pause", headers=CASEWORKER, json={
            "reason": "krankheit", "paused_on": T.isoformat(), "expected_resume_on": day(5)}))
        unanswered = await ok(await refs.post("/referrals", headers=CASEWORKER, json={
            "case_id": reviewed, "to_organisation_id": abh, "purpose": "aufenthaltssicherung",
            "data_categories": ["aufenthalt"], "due_on": day(2)}), 201)
        booked = await ok(await kreis.refer(reviewed, abh), 201)
        mine = booked["partner_referral_id"]
        await ok(await refs.post(f"/partner/referrals/{mine}/accept", headers=partner(abh)))
        await ok(await refs.post(f"/partner/referrals/{mine}/appointment", headers=partner(abh),
                                 json={"appointment_on": day(4)}))

        week = [("referral_overdue", day(3), False), ("review", day(3), False),
                ("appointment_outcome", day(5), False), ("pause_end", day(5), False)]
        await shows(lambda: listed(cases, "week"), week)
        assert await listed(cases, "today") == [] and await listed(cases, "overdue") == []
        assert await listed(cases, "week", headers=OTHER_TEAM, whose="team") == []  # another team's reach
        assert await listed(cases, "week", headers=COLLEAGUE) == []  # a colleague's own list: not their cases
        assert await listed(cases, "week", headers=COLLEAGUE, whose="team") == week  # the team's list
        assert await listed(cases, "week", headers=TEAM_LEAD) == week

        await _move(clock, cases, refs, 3)
        due_today = [("referral_overdue", day(3), True), ("review", day(3), True)]
        await shows(lambda: listed(cases, "today"), due_today)
        await ok(await cases.post(f"/cases/{reviewed}/reviews", headers=CASEWORKER,
                                  json={"held_on": T.isoformat()}), 201)  # handled; no next review planned
        await ok(await refs.post(f"/partner/referrals/{unanswered['partner_referral_id']}/decline",
                                 headers=partner(abh), json={"reason": "keine_kapazitaet"}))
        await shows(lambda: listed(cases, "today"), [])

        await _move(clock, cases, refs, 6)  # the day after both fell due, nothing done: overdue, oldest first
        overdue = [("appointment_outcome", day(5), True), ("pause_end", day(5), True)]
        await shows(lambda: listed(cases, "overdue"), overdue)
        assert await listed(cases, "today") == []
        await ok(await cases.post(f"/cases/{paused}/resume", headers=CASEWORKER, json={"resumed_on": day(6)}))
        await ok(await refs.post(f"/partner/referrals/{mine}/outcome", headers=partner(abh),
                                 json={"outcome": "in_bearbeitung"}))
        await shows(lambda: listed(cases, "overdue"), [])


async def _move(clock: ManualClock, cases, refs, days: int) -> None:
    clock.set(start_of(T + timedelta(days=days)))
    for service in (cases, refs):
        await settled(service._transport.app.state.runtime.scheduler)


async def shows(listing, want) -> None:
    """The worklist comes to show `want` (its projection follows Kafka)."""
    seen = []

    async def check():
        seen.append(await listing())
        return seen[-1] == want
    try:
        await eventually(check, timeout=20)
    except AssertionError:
        raise AssertionError(f"the worklist shows {seen[-1]}, expected {want}") from None
