"""Can a reader of kim.cases single a client out? k-anonymity counts on the demo data (the 250 clients `kim demo
seed` posts, planned by kim_cli.demo.plans, whose dates reach kim.cases as they are posted) for the quasi-identifiers
the topic carries in clear: the case's municipality with a date of its intake, and with what reporting needs.

What it shows (issue 15, item 5), printed as figures: municipality + the opening day (CaseOpened.opened_on) make
240 of 250 clients unique; the intake's residence status date (recorded_on, = the opening day) and the first
consent's granted_on (0-10 days later) link the same clients. The consent gate no longer needs any consent date on
the topic (the cases service decides on consents since contract 3.0.0), so the consent dates are needed on kim.cases
only by the cases service itself (its store is the topic: expiry, validity rules) and by reporting. But what
reporting needs per case does not make the topic safe either: its periods are months (kim_reporting.domain.periods),
and municipality + opening month still leave 104 clients unique, with the access channel (the intake indicator's
dimension) 201. Only a year, or the whole Kreis without the municipality, gets near k = 5. So reducing dates to what
reporting needs would not stop kim.cases singling clients out; schemas/README.md ("What kim.cases links") says
where the protection lies instead (the topic is personal data under the Kafka ACLs: only the Kreis's services read
it; partners get their own derived topics) and what a per-case topic cannot avoid (each record's time).

Since contract 5.0.0 those dates and codes are sealed per client (kim_schemas.sealing);
`test_what_a_reader_of_kim_cases_without_keys_can_still_combine` counts what is left in clear."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable
from datetime import date

from kim_cli.demo.plans import DEFAULT_CLIENTS, CasePlan, plan_clients
from kim_schemas.cases import ARRIVAL_BAND_YEARS, BIRTH_BAND_YEARS, year_band

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
# what reporting needs per case: month periods, per municipality, intakes by access channel
REPORTING = {
    "municipality + opening month + access channel": lambda p: (
        p.municipality, p.opened_on.isoformat()[:7], p.access_channel),
    "municipality + opening half-year": lambda p: (p.municipality, p.opened_on.year, (p.opened_on.month - 1) // 6),
    "municipality + opening year": lambda p: (p.municipality, p.opened_on.year),
    "the whole Kreis + opening month": lambda p: p.opened_on.isoformat()[:7],
}


def test_how_many_demo_clients_kim_cases_singles_out():
    plans = plan_clients(DEFAULT_CLIENTS, today=TODAY)
    figures = {name: k_anonymity(plans, key) for name, key in QUASI.items()}
    coarse = {name: k_anonymity(plans, key) for name, key in REPORTING.items()}
    print(f"\n{len(plans)} demo clients: unique (k=1) / in groups under 5 / smallest group")
    for name, (alone, small, smallest) in (figures | coarse).items():
        print(f"  {name}: {alone} / {small} / {smallest}")

    day, week, month, quarter, residence, consent = figures.values()
    assert day[0] == 240  # the finding, reproduced
    assert month[0] < week[0] < day[0] and quarter[0] < month[0]  # coarser opening dates do single out fewer...
    # ...but the intake records the opening day in clear again: every client's first residence status is recorded
    # on the day the case was opened, so reducing opened_on alone leaves exactly as many clients unique
    assert all(_first(p, "residence-status", "recorded_on") == p.opened_on.isoformat() for p in plans)
    assert residence == day
    # and the consent's granted_on (0-10 days after opening) singles out nearly as many
    assert consent[0] > 0.8 * day[0]
    # what reporting needs per case (month periods, per municipality, by access channel) still singles out most:
    # reducing the dates to months would not make kim.cases safe; only a year or the Kreis as a whole come near k = 5
    with_channel, half_year, year, kreis = coarse.values()
    assert month[0] > 100 and with_channel[0] > 200
    assert year[0] < 10 and kreis[0] < 10


# Since contract 5.0.0 (kim_schemas.sealing) the dates and codes are sealed per client: a reader of kim.cases without
# the keys sees, per case, its ids, its municipality, Baustein, team, team organisation and case manager (CaseOpened,
# CaseTransferred), the types of its events, and each record's time (ce_time, the Kafka timestamp).
CLEAR = {
    "municipality": lambda p: p.municipality,
    "municipality + team organisation": lambda p: (p.municipality, p.team),
    "municipality + team + case manager": lambda p: (p.municipality, p.team, p.case_manager),
    "case manager + final case manager + final municipality": lambda p: (
        p.case_manager, p.final_manager, p.final_municipality),
}
# what the record times give away when the casework is recorded on the day it happens (live use; the demo posts its
# backdated history in one run, so there every ce_time is the seeding day and this is the worst case, not the demo's)
RECORD_TIME = {
    "municipality + CaseOpened's record day (ce_time), recorded on the opening day": lambda p: (
        p.municipality, p.opened_on),
    "municipality + CaseOpened's record month": lambda p: (p.municipality, p.opened_on.isoformat()[:7]),
}


def test_what_a_reader_of_kim_cases_without_keys_can_still_combine():
    plans = plan_clients(DEFAULT_CLIENTS, today=TODAY)
    clear = {name: k_anonymity(plans, key) for name, key in CLEAR.items()}
    timed = {name: k_anonymity(plans, key) for name, key in RECORD_TIME.items()}
    print(f"\n{len(plans)} demo clients, sealed fields unreadable: unique (k=1) / in groups under 5 / smallest group")
    for name, (alone, small, smallest) in (clear | timed).items():
        print(f"  {name}: {alone} / {small} / {smallest}")
    municipality, team, manager, moved = clear.values()
    assert municipality == (0, 0, 10)  # the municipality alone singles nobody out
    # a team serving one client in a municipality, or a case manager with one case there, makes that case its own
    # group: it tells a reader which case the team or manager works there, with no date or code of the person
    assert 0 < team[0] <= manager[0] < 20 and moved[0] < 20
    record_day, record_month = timed.values()
    assert record_day[0] == 240 and record_month[0] > 100  # ...but the record time does, as the opening day did


# Every field a reader of kim.cases reads without a key since contract 6.0.0 (schemas/README.md, "Every field in
# clear", generated from the models), per client: besides the case's place and staff above, the consent's scope
# (recipients, purposes, categories), the residence status codes, the Rechtskreis, and which events a case has (their
# ce_type: how many reviews, milestones, goals achieved or dropped, a closure). Before 6.0.0 ClientRegistered also
# carried the decade of birth and the five-year period of arrival (birth_band, arrival_band) in clear.
def _steps(p: CasePlan):
    return p.steps + p.final_steps


def _consent_scope(p: CasePlan):
    body = next((s.body for s in _steps(p) if s.path == "consents"), None)
    return None if body is None else (tuple(body["recipients"]), tuple(body["purposes"]),
                                      tuple(body["data_categories"]), body.get("special_categories", False))


def _statuses(p: CasePlan):
    return tuple(s.body["status"] for s in _steps(p) if s.path == "residence-status")


def _rechtskreis(p: CasePlan):
    return tuple(s.body.get("rechtskreis") or s.body.get("current") for s in _steps(p)
                 if s.path in ("assessment", "rechtskreis"))


def _event_shape(p: CasePlan):
    """How many records of each type the case has (the ce_type of each record is in clear)."""
    kinds = Counter(s.path.rsplit("/", 1)[-1] if s.path.startswith("goals/") else s.path.split("/")[0]
                    for s in _steps(p))
    return tuple(sorted(kinds.items()))


def _bands(p: CasePlan):
    return (year_band(p.person.date_of_birth.year, BIRTH_BAND_YEARS),
            year_band(p.person.arrival_year, ARRIVAL_BAND_YEARS))


def _staff(p: CasePlan):
    return p.municipality, p.team, p.case_manager


EVERY_CLEAR = {
    "before 6.0.0: municipality + team + case manager + birth band + arrival band": lambda p: (*_staff(p), *_bands(p)),
    "municipality + team + case manager (the bands gone since 6.0.0)": _staff,
    "municipality + the consent's scope": lambda p: (p.municipality, _consent_scope(p)),
    "municipality + residence status codes": lambda p: (p.municipality, _statuses(p)),
    "municipality + Rechtskreis": lambda p: (p.municipality, _rechtskreis(p)),
    "municipality + which events the case has (ce_type counts)": lambda p: (p.municipality, _event_shape(p)),
    "every field in clear together": lambda p: (
        *_staff(p), p.final_manager, p.final_municipality, _consent_scope(p), _statuses(p), _rechtskreis(p),
        _event_shape(p)),
}


def test_every_field_in_clear_on_kim_cases_counted():
    plans = plan_clients(DEFAULT_CLIENTS, today=TODAY)
    figures = {name: k_anonymity(plans, key) for name, key in EVERY_CLEAR.items()}
    print(f"\n{len(plans)} demo clients, every field in clear: unique (k=1) / in groups under 5 / smallest group")
    for name, (alone, small, smallest) in figures.items():
        print(f"  {name}: {alone} / {small} / {smallest}")
    with_bands, staff, scope, statuses, rechtskreis, shape, everything = figures.values()
    # the probe's finding (102 of 252 on its seeding): the bands made the staff combination single out ~7 times as
    # many; ClientRegistered v3 drops them, which leaves the 14 counted above
    assert with_bands[0] > 90 and staff[0] == 14 and with_bands[0] > 5 * staff[0]
    # what stays in clear still singles many out when combined: the consent's scope and the shape of the casework
    # are nearly unique per municipality (schemas/README.md says so; the protection is who may read kim.cases)
    assert scope[0] > 100 and shape[0] > 100 and everything[0] > 0.9 * len(plans)
    assert rechtskreis[0] < 20 and statuses[0] < scope[0]
