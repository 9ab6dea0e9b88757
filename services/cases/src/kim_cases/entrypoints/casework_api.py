"""HTTP: casework on a case — assessment, residence status, Rechtskreis, plan, reviews, goals, milestones."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Response

from kim_cases.adapters.events import CommandContext
from kim_cases.application import cases
from kim_cases.application.services import Services
from kim_cases.entrypoints import requests as rq
from kim_cases.entrypoints.deps import caller, expected_version, result, services

router = APIRouter(prefix="/cases/{case_id}", tags=["casework"])
Writer = Depends(caller("case.work"))
Version = Depends(expected_version)


@router.post("/assessment", summary="Complete the assessment (Clearing); needs a valid consent")
async def assess(case_id: str, body: rq.CompleteAssessment, response: Response, expected: int | None = Version,
                 ctx: CommandContext = Writer, s: Services = Depends(services)):
    case, version = await cases.execute(s, ctx, case_id, expected, lambda c: c.complete_assessment(
        assessed_on=body.assessed_on, domains=body.domains, rechtskreis=body.rechtskreis))
    return result(response, case, version)


@router.post("/residence-status", summary="Record the client's residence status")
async def residence_status(case_id: str, body: rq.RecordResidenceStatus, response: Response,
                           expected: int | None = Version, ctx: CommandContext = Writer,
                           s: Services = Depends(services)):
    async def decide(c):
        dates = await cases.seal(s, c, {"status_since": body.status_since.isoformat(), "valid_until": (
            body.valid_until.isoformat() if body.valid_until else None)}, "a residence status")
        return c.record_residence_status(**body.model_dump(), dates=dates)

    case, version = await cases.execute(s, ctx, case_id, expected, decide)
    return result(response, case, version)


@router.post("/rechtskreis", summary="Record a change of the Rechtskreis")
async def rechtskreis(case_id: str, body: rq.ChangeRechtskreis, response: Response, expected: int | None = Version,
                      ctx: CommandContext = Writer, s: Services = Depends(services)):
    case, version = await cases.execute(s, ctx, case_id, expected, lambda c: c.change_rechtskreis(**body.model_dump()))
    return result(response, case, version)


@router.post("/plan", status_code=201, summary="Agree an integration plan with goals; needs consent and assessment")
async def agree_plan(case_id: str, body: rq.AgreePlan, response: Response, expected: int | None = Version,
                     ctx: CommandContext = Writer, s: Services = Depends(services)):
    plan_id = str(uuid.uuid4())
    case, version = await cases.execute(s, ctx, case_id, expected, lambda c: c.agree_plan(
        plan_id=plan_id, goals=body.goals, agreed_on=body.agreed_on))
    return result(response, case, version, plan_id=plan_id)


@router.post("/reviews", status_code=201, summary="Hold a review; notes are encrypted with the client's key")
async def review(case_id: str, body: rq.HoldReview, response: Response, expected: int | None = Version,
                 ctx: CommandContext = Writer, s: Services = Depends(services)):
    review_id = str(uuid.uuid4())

    async def decide(c):
        notes = await cases.seal_notes(s, c, body.notes)
        return c.hold_review(review_id=review_id, held_on=body.held_on, notes=notes,
                             next_review_on=body.next_review_on)

    case, version = await cases.execute(s, ctx, case_id, expected, decide)
    return result(response, case, version, review_id=review_id)


@router.post("/goals/{goal_id}/achieved", summary="Mark a goal achieved")
async def achieve_goal(case_id: str, goal_id: str, body: rq.AchieveGoal, response: Response,
                       expected: int | None = Version, ctx: CommandContext = Writer,
                       s: Services = Depends(services)):
    case, version = await cases.execute(s, ctx, case_id, expected, lambda c: c.achieve_goal(
        goal_id=goal_id, achieved_on=body.achieved_on))
    return result(response, case, version)


@router.post("/goals/{goal_id}/dropped", summary="Drop a goal with a reason")
async def drop_goal(case_id: str, goal_id: str, body: rq.DropGoal, response: Response,
                    expected: int | None = Version, ctx: CommandContext = Writer, s: Services = Depends(services)):
    case, version = await cases.execute(s, ctx, case_id, expected, lambda c: c.drop_goal(
        goal_id=goal_id, reason=body.reason, dropped_on=body.dropped_on))
    return result(response, case, version)


@router.post("/milestones", status_code=201, summary="Record an integration milestone")
async def milestone(case_id: str, body: rq.RecordMilestone, response: Response, expected: int | None = Version,
                    ctx: CommandContext = Writer, s: Services = Depends(services)):
    case, version = await cases.execute(s, ctx, case_id, expected, lambda c: c.record_milestone(**body.model_dump()))
    return result(response, case, version)
