"""The demo's case plans: deterministic, every phase and municipality present, and every step accepted by the
cases service's request models and the Case aggregate's rules (replayed in memory, no services)."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, date, datetime

from kim_cases.domain import Case
from kim_cases.entrypoints import requests as rq

from kim_cli.demo.data import MUNICIPALITIES, PARTNER
from kim_cli.demo.plans import PHASES, CasePlan, plan_clients

TODAY = date(2026, 11, 24)
PLANS = plan_clients(300, seed=2024, today=TODAY)


def _id() -> str:
    return str(uuid.uuid4())


ROUTES = {  # path -> (request body model, what the HTTP route asks the aggregate to decide)
    "residence-status": (rq.RecordResidenceStatus, lambda c, b: c.record_residence_status(**b.model_dump(),
                                                                                          dates=None)),
    "consents": (rq.GrantConsent, lambda c, b: c.grant_consent(consent_id="consent-1", recorded_by="t",
                                                               **b.model_dump())),
    "assessment": (rq.CompleteAssessment, lambda c, b: c.complete_assessment(
        assessed_on=b.assessed_on, domains=b.domains, rechtskreis=b.rechtskreis)),
    "rechtskreis": (rq.ChangeRechtskreis, lambda c, b: c.change_rechtskreis(**b.model_dump())),
    "plan": (rq.AgreePlan, lambda c, b: c.agree_plan(plan_id=_id(), goals=b.goals, agreed_on=b.agreed_on)),
    "reviews": (rq.HoldReview, lambda c, b: c.hold_review(review_id=_id(), held_on=b.held_on, notes=None,
                                                          next_review_on=b.next_review_on)),
    "milestones": (rq.RecordMilestone, lambda c, b: c.record_milestone(**b.model_dump())),
    "transfer": (rq.TransferCase, lambda c, b: c.transfer(**b.model_dump())),
    "pause": (rq.PauseCase, lambda c, b: c.pause(**b.model_dump())),
    "resume": (rq.ResumeCase, lambda c, b: c.resume(**b.model_dump())),
    "closure": (rq.CloseCase, lambda c, b: c.close(**b.model_dump())),
    "withdrawal": (rq.WithdrawConsent, lambda c, b: c.withdraw_consent(
        consent_id="consent-1", effective_at=datetime.now(UTC), **b.model_dump())),
    "achieved": (rq.AchieveGoal, None), "dropped": (rq.DropGoal, None),
}


def replay(plan: CasePlan) -> Case:
    """Every step of the plan through the request model and the aggregate, as the HTTP API would."""
    rq.RegisterClient.model_validate(plan.person.body())
    opened = rq.OpenCase.model_validate({"client_id": "client-1", **plan.open_body()})
    case = Case("case-1")
    for e in case.open(**opened.model_dump()):
        case.apply(e)
    for step in [*plan.steps, *plan.final_steps]:
        last = step.path.rsplit("/", 1)[-1]
        model, decide = ROUTES[last]
        body = model.model_validate(step.body)
        if last == "achieved":
            events = case.achieve_goal(goal_id=step.path.split("/")[1], achieved_on=body.achieved_on)
        elif last == "dropped":
            events = case.drop_goal(goal_id=step.path.split("/")[1], reason=body.reason, dropped_on=body.dropped_on)
        else:
            events = decide(case, body)
        for e in events:
            case.apply(e)
    return case


def test_every_step_passes_the_request_models_and_the_case_rules():
    for plan in PLANS:
        try:
            case = replay(plan)
        except Exception as exc:
            raise AssertionError(f"client {plan.index} ({plan.phase}): {exc}") from exc
        assert case.phase.value == plan.phase, plan.index
        assert plan.opened_on <= TODAY
        if plan.phase == "closed":
            assert case.closure.closed_on < TODAY
            assert case.closure.reason != "ziele_erreicht" or case.closure.goals_achieved >= 1


def test_the_same_seed_gives_the_same_people_and_cases():
    again = plan_clients(300, seed=2024, today=TODAY)
    assert [(p.person, p.steps, p.referrals) for p in again] == [(p.person, p.steps, p.referrals) for p in PLANS]
    assert [p.person for p in plan_clients(300, seed=7, today=TODAY)] != [p.person for p in PLANS]


def test_every_phase_and_municipality_is_there_and_closures_spread_over_two_years():
    assert set(Counter(p.phase for p in PLANS)) == set(PHASES)
    assert {p.municipality for p in PLANS} == {m.ags for m in MUNICIPALITIES}
    closed = [p for p in PLANS if p.phase == "closed"]
    days = [(TODAY - date.fromisoformat(p.final_steps[-1].body["closed_on"])).days for p in closed]
    assert min(days) < 60 and max(days) > 365
    assert len({p.person.name for p in PLANS}) > 200  # names vary (common names may repeat, as in life)


def test_referrals_rest_on_the_clients_consent():
    referred = [(p, r) for p in PLANS for r in p.referrals]
    assert len(referred) > 100
    for plan, r in referred:
        consent = next(s.body for s in plan.steps if s.path == "consents")
        partner = PARTNER[r.partner]
        assert partner.organisation_id in consent["recipients"]
        assert partner.purpose in consent["purposes"]
        assert set(partner.categories) <= set(consent["data_categories"])
