"""How a demo case ends up: referrals to the partners its consent names (and how far each gets), a withdrawal of
consent for some, and the closure with a reason for the closed ones."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

from kim_cli.demo.data import PARTNER

if TYPE_CHECKING:
    from kim_cli.demo.casework import CaseWork

FATES = ("requested", "declined", "accepted", "appointment", "outcome", "closed")
ACTIVE_FATES = (15, 8, 10, 17, 20, 30)
CLOSED_FATES = (0, 1, 0, 0, 0, 4)  # a closed case's referrals were answered and closed
OTHER_REASONS = {"kontakt_verloren": 35, "wegzug": 25, "abbruch": 20, "sonstiges": 10, "einwilligung_widerrufen": 10}


def plan_ending(w: CaseWork) -> None:
    from kim_cli.demo.plans import ReferralPlan, Step

    plan, rnd, closing = w.plan, w.rnd, w.closed_on is not None
    if w.rank >= 3 and (not closing or w.closed_on >= w.today - timedelta(days=90)) and _consent_valid(w):
        for partner in w.partners[:rnd.randint(1, 2)]:
            outcome = "nicht_erschienen" if rnd.random() < 0.05 else rnd.choice(PARTNER[partner].outcomes)
            plan.referrals.append(ReferralPlan(
                partner, rnd.choices(FATES, weights=CLOSED_FATES if closing else ACTIVE_FATES)[0], outcome,
                rnd.choice(("nicht_zustaendig", "keine_kapazitaet", "voraussetzungen_fehlen")), rnd.randint(3, 40)))
    if closing:
        if w.rank >= 4 and w.achieved:
            reason = rnd.choices(("ziele_erreicht", "regeldienste"), weights=(7, 3))[0]
        else:
            reasons = {r: n for r, n in OTHER_REASONS.items() if w.granted or r != "einwilligung_widerrufen"}
            reason = rnd.choices(list(reasons), weights=list(reasons.values()))[0]
        if reason == "einwilligung_widerrufen":
            plan.final_steps.append(Step("consents/{consent_id}/withdrawal", {"scope": "alle"}))
        plan.final_steps.append(Step("closure", {"reason": reason, "closed_on": w.closed_on.isoformat()}))
    elif len(w.partners) > 1 and w.granted and rnd.random() < 0.08:
        plan.final_steps.append(Step("consents/{consent_id}/withdrawal",
                                     {"scope": "empfaenger", "recipient": w.partners[-1]}))


def _consent_valid(w: CaseWork) -> bool:
    """The referrals service checks the consent on the day of the referral (today)."""
    consent = next(s.body for s in w.plan.steps if s.path == "consents")
    return consent["valid_until"] is None or date.fromisoformat(consent["valid_until"]) >= w.today
