"""Can two partners named in one consent link their pseudonyms? Counts on the demo data (the 250 clients `kim demo
seed` posts, planned by kim_cli.demo.plans), for the values a partner topic record carries in clear.

Every partner gets its own pseudonym, referral id and consent id for a client, so what could link two partners'
records of one client are the values that are the same for that client on both topics. Before contract 3.0.0 these
were the consent's last day (`consent_valid_until`), the due date (`due_on`), the municipality (`ce_municipality`)
and the client facts both partners were shown (residence status with `aufenthalt`, Rechtskreis with
`leistungsbezug`). Since 3.0.0 the snapshot carries no consent date and the records no municipality; `due_on` stays
(the partner needs to know by when to act; the case manager sets it per referral: `kim demo seed` uses the same
day for every referral, real use may not, see schemas/README.md "What partner topics link").

A pair of offers (one to partner A, one to another partner B, the same client) is *linkable* when A's offer matches
exactly one of B's offers on the values both see in clear: that one. Figures are printed; the asserts hold the
before/after shape: 41 of 46 pairs linkable before, 1 after (by a residence status the consent shares with both
partners, which they need to work the referral), none by what the service adds. Not counted: the record time (`ce_time`, the Kafka timestamp, `offered_at`), which is when the
case manager referred, and two referrals made in one sitting are close in time (schemas/README.md says so)."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from itertools import combinations

from kim_cli.demo.data import PARTNER
from kim_cli.demo.plans import DEFAULT_CLIENTS, CasePlan, plan_clients

TODAY = date(2026, 12, 3)
DUE_ON = TODAY + timedelta(days=30)  # kim_cli.demo.seed: every referral is due 30 days after seeding

BEFORE = ("consent_valid_until", "due_on", "ce_municipality", "residence_status", "rechtskreis")
AFTER = ("due_on", "residence_status", "rechtskreis")
SHOWN_WITH = {"residence_status": "aufenthalt", "rechtskreis": "leistungsbezug"}  # kim_referrals.domain.partner_view


def _last(plan: CasePlan, path: str, field: str) -> str | None:
    return next((s.body[field] for s in reversed(plan.steps) if s.path == path and s.body.get(field)), None)


def offers(plans: list[CasePlan]) -> list[dict]:
    """Each referral of the demo as its partner sees it in clear (the fields that could be the same across
    partners), with the client it is about (which the partners do not see)."""
    out = []
    for plan in plans:
        consent = next((s.body for s in plan.steps if s.path == "consents"), {})
        rechtskreis = _last(plan, "rechtskreis", "current") or _last(plan, "assessment", "rechtskreis")
        for r in plan.referrals:
            p = PARTNER[r.partner]
            out.append({
                "client": plan.index, "partner": p.organisation_id, "categories": set(p.categories),
                "consent_valid_until": consent.get("valid_until"), "due_on": DUE_ON.isoformat(),
                "ce_municipality": plan.final_municipality or plan.municipality,
                "residence_status": _last(plan, "residence-status", "status"), "rechtskreis": rechtskreis,
            })
    return out


def _shown(offer: dict, field: str) -> bool:
    return field not in SHOWN_WITH or SHOWN_WITH[field] in offer["categories"]


def linkable_pairs(all_offers: list[dict], fields: tuple[str, ...]) -> tuple[int, int, int]:
    """(same-client cross-partner pairs, of them linkable, pairs of different clients' offers to two partners that
    agree on every value both see)."""
    by_partner: dict[str, list[dict]] = {}
    for o in all_offers:
        by_partner.setdefault(o["partner"], []).append(o)

    def key(o: dict, other: dict) -> tuple:
        return tuple(o[f] for f in fields if _shown(o, f) and _shown(other, f))

    same = [(a, b) for a, b in combinations(all_offers, 2) if a["client"] == b["client"] and a["partner"] != b["partner"]]
    linked = 0
    for a, b in same:
        matches = [o for o in by_partner[b["partner"]] if key(o, a) == key(a, o)]
        linked += matches == [b]
    alike = sum(1 for a, b in combinations(all_offers, 2)
                if a["client"] != b["client"] and a["partner"] != b["partner"] and key(a, b) == key(b, a))
    return len(same), linked, alike


def test_what_links_two_partners_pseudonyms_of_one_client_before_and_after_contract_3():
    all_offers = offers(plan_clients(DEFAULT_CLIENTS, today=TODAY))
    pairs, linked_before, alike_before = linkable_pairs(all_offers, BEFORE)
    _, linked_after, alike_after = linkable_pairs(all_offers, AFTER)
    until = Counter(o["consent_valid_until"] for o in all_offers)
    print(f"\n{len(all_offers)} demo offers; {pairs} pairs of offers of one client to two partners")
    print(f"  consent_valid_until unique to one client's offers: "
          f"{sum(until[o['consent_valid_until']] <= 2 and o['consent_valid_until'] is not None for o in all_offers)}")
    print(f"  before (consent_valid_until, due_on, ce_municipality, shared facts): {linked_before} of {pairs} linkable;"
          f" {alike_before} pairs of different clients agree on all")
    print(f"  after (due_on, shared facts): {linked_after} of {pairs} linkable;"
          f" {alike_after} pairs of different clients agree on all")

    _, linked_by_due_on, _ = linkable_pairs(all_offers, ("due_on",))
    print(f"  by due_on alone: {linked_by_due_on} of {pairs} linkable")

    assert pairs == 46  # 46 demo clients are referred to two partners
    assert linked_before > 0.8 * pairs  # the finding: the consent's last day links nearly all of them
    assert linked_by_due_on == 0  # what the service adds in clear no longer singles out the other record
    # what is left is a fact the consent shares with both: one client's rare residence status (eingebuergert),
    # shown to both residence authorities (ABH and EBH) because the consent grants both `aufenthalt`
    assert linked_after == 1
    assert alike_after > 100 * alike_before  # what is left is shared by many clients' offers alike
