"""The indicators recomputed plainly from the full event history, in Python, without the projections' tables.

Returns {cell key: (value, suppressed)} for every cell the service should serve (totals and every breakdown). The
complementary suppression is the domain's (domain/protection.py, tested on its own), applied to these cells.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal

from kim_reporting.domain.catalogue import BY_NAME, INDICATORS, Aggregate
from kim_reporting.domain.periods import Period, calendar_year, periods_of_year
from kim_reporting.domain.residence import B1_PLUS, RANK
from kim_reporting.domain.protection import protect
from kim_reporting.domain.suppression import Cell, rounded


def _d(v: str | None) -> date | None:
    return date.fromisoformat(v) if v else None


def _instant_day(v: str) -> date:
    return datetime.fromisoformat(v).date()


class World:
    def __init__(self, history):
        self.cases: dict[str, dict] = {}
        self.referrals: dict[str, dict] = {}
        self.grants, self.positions, self.fills = {}, {}, defaultdict(list)
        for e in history.events["cases"]:
            self._case_event(e)
        for e in history.events["referrals"]:
            d = e.data
            if e.type.endswith("ReferralRequested"):
                self.referrals[d["referral_id"]] = {"case": d["case_id"], "partner": d["to_organisation_id"],
                                                    "requested": _instant_day(d["requested_at"])}
            for suffix, key, field, parse in (
                ("ReferralAccepted", "accepted", "accepted_at", _instant_day),
                ("ReferralDeclined", "declined", "declined_at", _instant_day),
                ("AppointmentScheduled", "appointment", "appointment_on", _d),
                ("ReferralClosed", "closed", "closed_at", _instant_day),
                ("ReferralRevoked", "revoked", "revoked_at", _instant_day)):
                if e.type.endswith(suffix):
                    self.referrals[d["referral_id"]][key] = parse(d[field])
        for e in history.events["staffing"]:
            d = e.data
            if e.type.endswith("GrantAwarded"):
                self.grants[d["grant_id"]] = (d["baustein"], _d(d["period_from"]), _d(d["period_to"]), Decimal(d["vza"]))
            elif e.type.endswith("PositionEstablished"):
                self.positions[d["position_id"]] = (d["municipality"], d["baustein"], Decimal(d["vza"]),
                                                    _d(d["valid_from"]), _d(d.get("valid_to")))
            elif e.type.endswith("PositionFilled"):
                self.fills[d["position_id"]].append((_d(d["filled_on"]), Decimal(d["vza_share"])))
            elif e.type.endswith("PositionVacated"):
                self.fills[d["position_id"]].append((_d(d["vacated_on"]), -Decimal(d["vza_share"])))

    def _case_event(self, e) -> None:
        d, v, kind = e.data, e.stream_version, e.type.rsplit(".", 1)[1]
        if kind == "ClientRegistered":
            return
        case = self.cases.setdefault(d["case_id"], {"timeline": [], "residence": [], "rk": [], "milestones": [],
                                                     "consents": [], "withdrawals": []})
        if kind == "CaseOpened":
            case.update(client=d["client_id"], baustein=d["baustein"], muni_open=d["municipality"],
                        channel=d["access_channel"], opened=_d(d["opened_on"]))
            case["timeline"].append((_d(d["opened_on"]), v, "opened", d["municipality"]))
        elif kind == "CaseTransferred":
            case["timeline"].append((_d(d["transferred_on"]), v, "transferred", d["municipality"]))
        elif kind in ("CasePaused", "CaseResumed"):
            on = d["paused_on"] if kind == "CasePaused" else d["resumed_on"]
            case["timeline"].append((_d(on), v, "paused" if kind == "CasePaused" else "resumed", None))
        elif kind == "CaseClosed":
            case.update(closed=_d(d["closed_on"]), reason=d["reason"], agreed=d["goals_agreed"],
                        achieved=d["goals_achieved"], duration=d["duration_days"])
            case["timeline"].append((_d(d["closed_on"]), v, "closed", None))
        elif kind == "ResidenceStatusRecorded":
            case["residence"].append((_d(d["recorded_on"]), v, d["status"]))
        elif kind == "AssessmentCompleted":
            case["rk"].append((_d(d["assessed_on"]), v, None, d["rechtskreis"], False))
        elif kind == "RechtskreisChanged":
            case["rk"].append((_d(d["changed_on"]), v, d.get("previous"), d["current"], True))
        elif kind == "MilestoneRecorded":
            case["milestones"].append((_d(d["reached_on"]), d["milestone"], d.get("language_level")))
        elif kind == "ConsentGranted":
            case["consents"].append((d["consent_id"], set(d["recipients"]), _d(d["granted_on"]),
                                     _d(d.get("valid_until"))))
        elif kind == "ConsentWithdrawn":
            case["withdrawals"].append((d["consent_id"], d["scope"], d.get("recipient"),
                                        _instant_day(d["effective_at"])))

    # -- a case as of a day -------------------------------------------------------------------------------
    def active(self, case: dict, day: date) -> bool:
        states = sorted((on, v, k) for on, v, k, _ in case["timeline"] if k != "transferred" and on <= day)
        return bool(states) and states[-1][2] in ("opened", "resumed")

    def place(self, case: dict, day: date) -> tuple[str, str]:
        places = sorted((on, v, m) for on, v, _, m in case["timeline"] if m is not None and on <= day)
        muni = places[-1][2] if places else case.get("muni_open") or "unbekannt"
        return muni, case.get("baustein") or "unbekannt"

    def person(self, case_id: str) -> str:
        case = self.cases.get(case_id)
        return case["client"] if case and case.get("client") else f"case:{case_id}"

    def covered(self, case: dict, partner: str, day: date) -> bool:
        for consent_id, recipients, granted, until in case["consents"]:
            if partner not in recipients or granted > day or (until is not None and until < day):
                continue
            if any(w[0] == consent_id and w[3] <= day and (w[1] == "alle" or (w[1] == "empfaenger" and w[2] == partner))
                   for w in case["withdrawals"]):
                continue
            return True
        return False


def _facts(w: World, name: str, p: Period):
    """(municipality, baustein, dim, item, person, x, y) of one indicator in one period."""
    a, b = p.start, p.end
    for cid, case in w.cases.items():
        muni, bs = w.place(case, b)
        person = w.person(cid)
        closed_in = case.get("closed") is not None and a <= case["closed"] <= b
        opened_in = case.get("opened") is not None and a <= case["opened"] <= b
        intake_place = (case.get("muni_open") or "unbekannt", case.get("baustein") or "unbekannt")
        statuses = sorted(case["residence"])
        if name == "active_cases" and w.active(case, b):
            yield muni, bs, "", cid, person, 0, 0
        elif name == "intakes" and opened_in:
            yield *intake_place, case["channel"], cid, person, 0, 0
        elif name == "closures" and closed_in:
            yield muni, bs, case["reason"], cid, person, 0, 0
        elif name == "residence_status_at_intake" and opened_in:
            yield *intake_place, statuses[0][2] if statuses else "unbekannt", cid, person, 0, 0
        elif name == "residence_status_at_closure" and closed_in:
            before = [s for s in statuses if s[0] <= case["closed"]]
            yield muni, bs, before[-1][2] if before else "unbekannt", cid, person, 0, 0
        elif name == "status_improvements":
            for (_, _, prev), (on, _, cur) in zip(statuses, statuses[1:]):
                if a <= on <= b and RANK[cur] > RANK[prev]:
                    yield muni, bs, f"{prev}->{cur}", cid, person, 0, 0
        elif name == "naturalisations":
            if any(a <= on <= b and s == "eingebuergert" for on, _, s in statuses) or any(
                    a <= on <= b and m == "eingebuergert" for on, m, _ in case["milestones"]):
                yield muni, bs, "", cid, person, 0, 0
        elif name == "rechtskreis_mix" and w.active(case, b):
            known = sorted((on, v, cur) for on, v, _, cur, _ in case["rk"] if on <= b)
            yield muni, bs, known[-1][2] if known else "unbekannt", cid, person, 0, 0
        elif name == "rechtskreis_changes":
            for on, v, prev, cur, change in case["rk"]:
                if change and a <= on <= b:
                    yield muni, bs, f"{prev or 'unbekannt'}->{cur}", f"{cid}:{v}", person, 0, 0
        elif name in _MILESTONES:
            if any(a <= on <= b and _MILESTONES[name](m, lvl) for on, m, lvl in case["milestones"]):
                yield muni, bs, "", cid, person, 0, 0
        elif name == "goal_rate" and closed_in:
            yield muni, bs, "", cid, person, case["achieved"], case["agreed"]
        elif name == "median_case_duration_days" and closed_in:
            yield muni, bs, "", cid, person, case["duration"], 0
        elif name == "consent_coverage" and w.active(case, b):
            involved = [r["partner"] for r in w.referrals.values() if r["case"] == cid and r["requested"] <= b
                        and not any(r.get(k) is not None and r[k] <= b for k in ("closed", "revoked", "declined"))]
            if involved:
                yield muni, bs, "", cid, person, int(all(w.covered(case, x, b) for x in involved)), 1
    if name in ("referrals", "referral_acceptance_rate", "median_days_to_appointment"):
        for rid, r in w.referrals.items():
            if not a <= r["requested"] <= b:
                continue
            case = w.cases.get(r["case"])
            muni, bs = w.place(case, b) if case else ("unbekannt", "unbekannt")
            person = w.person(r["case"])
            if name == "referrals":
                yield muni, bs, r["partner"], rid, person, 0, 1
            elif name == "referral_acceptance_rate" and (r.get("accepted") or r.get("declined")):
                yield muni, bs, r["partner"], rid, person, int(r.get("accepted") is not None), 1
            elif name == "median_days_to_appointment" and r.get("appointment"):
                yield muni, bs, r["partner"], rid, person, (r["appointment"] - r["requested"]).days, 1
    days = Decimal(p.days)
    if name == "vza_granted":
        for gid, (bs, f, t, vza) in w.grants.items():
            if f <= b and t >= a:
                yield "*", bs, "", gid, None, vza * ((min(b, t) - max(a, f)).days + 1) / days, 0
    for pid, (muni, bs, vza, f, t) in w.positions.items():
        fills = w.fills.get(pid, [])
        if name == "vza_positions" and f <= b and (t is None or t >= a):
            yield muni, bs, "", pid, None, vza * ((min(b, t or b) - max(a, f)).days + 1) / days, 0
        elif name == "vza_filled" and any(on <= b for on, _ in fills):
            yield muni, bs, "", pid, None, sum(d * ((b - max(a, on)).days + 1) for on, d in fills if on <= b) / days, 0
        elif name == "vza_filled_at_end" and any(on <= b for on, _ in fills):
            yield muni, bs, "", pid, None, sum(d for on, d in fills if on <= b), 0
        elif name == "vza_vacant_at_end" and f <= b and (t is None or t >= b):
            yield muni, bs, "", pid, None, max(vza - sum((d for on, d in fills if on <= b), Decimal(0)), Decimal(0)), 0


_MILESTONES = {
    "course_starts": lambda m, lvl: m == "sprachkurs_beginn",
    "b1_plus_certificates": lambda m, lvl: m == "sprachzertifikat" and lvl in B1_PLUS,
    "training_starts": lambda m, lvl: m == "ausbildung_beginn",
    "job_starts": lambda m, lvl: m == "beschaeftigung_beginn",
}


def _aggregate(agg: Aggregate, facts: list[tuple]):
    if agg is Aggregate.COUNT:
        return len({f[3] for f in facts})
    if agg is Aggregate.SUM:
        return sum(f[5] for f in facts)
    if agg is Aggregate.RATIO:
        y = sum(f[6] for f in facts)
        return Decimal(sum(f[5] for f in facts)) / Decimal(y) if y else None
    return statistics.median(f[5] for f in facts)


def recompute(history, periods: list[Period]) -> dict[tuple, tuple]:
    """The cells of the given periods; the suppression pattern is decided over their calendar years, as served."""
    w = World(history)
    asked = {p.label for p in periods}
    periods = sorted({q for p in periods for q in periods_of_year(calendar_year(p.label))})
    raw: dict[tuple, tuple] = {}  # (indicator, period, muni, baustein, dim) -> (value, persons)
    for indicator in INDICATORS:
        if indicator.name == "active_cases_per_filled_vza":
            continue
        for p in periods:
            groups: dict[tuple, list] = defaultdict(list)
            for fact in _facts(w, indicator.name, p):
                muni, bs, dim = fact[0], fact[1], fact[2]
                for m in (muni, None):
                    for bb in (bs, None):
                        groups[(m, bb, dim)].append(fact)
            for (m, bb, dim), facts in groups.items():
                value = _aggregate(indicator.aggregate, facts)
                if value is not None and m != "*":
                    raw[(indicator.name, p.label, m, bb, dim)] = (value, len({f[4] for f in facts if f[4]}))
    for (name, label, m, bb, dim), (value, persons) in list(raw.items()):
        if name == "active_cases":
            vza = raw.get(("vza_filled_at_end", label, m, bb, ""), (None,))[0]
            if vza:
                raw[("active_cases_per_filled_vza", label, m, bb, "")] = (Decimal(value) / vza, persons)
    cells = []
    for (name, label, m, bb, dim), (value, persons) in raw.items():
        indicator = BY_NAME[name]
        cells.append(Cell(name, label, m, bb, {indicator.dimension: dim} if indicator.dimension else {},
                          rounded(name, value), persons if indicator.person_based else None))
    return {c.key(): (None if c.suppressed else c.value, c.suppressed) for c in protect(cells) if c.period in asked}
