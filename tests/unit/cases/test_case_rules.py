"""The Case aggregate decides by its own rules; refusals say why."""

from __future__ import annotations

from datetime import date

import pytest
from kim_runtime.errors import NotFound, RuleViolation
from kim_schemas import cases as ev
from kim_schemas.case_codes import ClosureReason, GoalDropReason, MilestoneKind, PauseReason, WithdrawalScope
from kim_schemas.codes import DataCategory, Rechtskreis
from kim_schemas.types import Encrypted

from kim_cases.domain import Case, Phase

from .factory import assessment, consent, goal, now, opened_case, run


def through_plan() -> Case:
    case = opened_case()
    run(case, case.grant_consent(**consent()))
    run(case, case.complete_assessment(**assessment()))
    return run(case, case.agree_plan(plan_id="p-1", goals=[goal("g-1"), goal("g-2")], agreed_on=date(2025, 2, 5)))


def test_a_case_goes_from_intake_to_closure_through_every_phase():
    case = opened_case()
    assert case.phase is Phase.INTAKE
    run(case, case.grant_consent(**consent()))
    assert case.phase is Phase.CONSENT
    run(case, case.complete_assessment(**assessment()))
    assert (case.phase, case.rechtskreis) == (Phase.ASSESSMENT, Rechtskreis.ASYLBLG)
    run(case, case.agree_plan(plan_id="p-1", goals=[goal("g-1"), goal("g-2")], agreed_on=date(2025, 2, 5)))
    assert case.phase is Phase.PLAN
    run(case, case.hold_review(review_id="r-1", held_on=date(2025, 4, 1), notes=None, next_review_on=None))
    assert case.phase is Phase.MONITORING
    run(case, case.achieve_goal(goal_id="g-1", achieved_on=date(2025, 5, 1)))
    run(case, case.drop_goal(goal_id="g-2", reason=GoalDropReason.REPLACED, dropped_on=date(2025, 5, 2)))
    [closed] = case.close(reason=ClosureReason.GOALS_ACHIEVED, closed_on=date(2025, 6, 10))
    assert (closed.goals_agreed, closed.goals_achieved, closed.duration_days) == (2, 1, 151)
    run(case, [closed])
    assert case.phase is Phase.CLOSED and case.version == 8


def test_closing_twice_is_refused_with_the_date_of_the_first_closure():
    case = opened_case()
    run(case, case.close(reason=ClosureReason.CONTACT_LOST, closed_on=date(2025, 3, 1)))
    with pytest.raises(RuleViolation, match="was closed on 2025-03-01: you cannot close it again"):
        case.close(reason=ClosureReason.OTHER, closed_on=date(2025, 3, 2))


def test_a_milestone_on_a_closed_case_is_refused():
    case = opened_case()
    run(case, case.close(reason=ClosureReason.MOVED_AWAY, closed_on=date(2025, 3, 1)))
    with pytest.raises(RuleViolation, match="cannot record a milestone"):
        case.record_milestone(milestone=MilestoneKind.JOB_START, reached_on=date(2025, 3, 2))


def test_a_plan_before_consent_is_refused():
    case = opened_case()
    with pytest.raises(RuleViolation, match="needs the client's consent first"):
        case.agree_plan(plan_id="p", goals=[goal()], agreed_on=date(2025, 2, 1))


def test_a_plan_before_the_assessment_is_refused():
    case = opened_case()
    run(case, case.grant_consent(**consent()))
    with pytest.raises(RuleViolation, match="needs a completed assessment"):
        case.agree_plan(plan_id="p", goals=[goal()], agreed_on=date(2025, 2, 1))


def test_an_expired_consent_no_longer_allows_casework():
    case = opened_case()
    run(case, case.grant_consent(**consent(valid_until=date(2025, 1, 31))))
    with pytest.raises(RuleViolation, match="withdrawn or expired"):
        case.complete_assessment(**assessment(assessed_on=date(2025, 2, 1)))
    assert case.consents["k-1"].status(date(2025, 2, 1)) == "expired"
    run(case, case.complete_assessment(**assessment(assessed_on=date(2025, 1, 31))))


def test_withdrawing_one_recipient_then_one_category_then_all():
    case = opened_case()
    run(case, case.grant_consent(**consent()))
    run(case, case.withdraw_consent(consent_id="k-1", scope=WithdrawalScope.ONE_RECIPIENT, recipient="abh-unna",
                                    data_category=None, effective_at=now()))
    assert case.consents["k-1"].recipients == ["jobcenter-unna"]
    with pytest.raises(RuleViolation, match="does not cover recipient abh-unna"):
        case.withdraw_consent(consent_id="k-1", scope=WithdrawalScope.ONE_RECIPIENT, recipient="abh-unna",
                              data_category=None, effective_at=now())
    run(case, case.withdraw_consent(consent_id="k-1", scope=WithdrawalScope.ONE_CATEGORY, recipient=None,
                                    data_category=DataCategory.IDENTITY, effective_at=now()))
    assert case.consents["k-1"].covers("jobcenter-unna", "aufenthaltssicherung", "aufenthalt", date(2025, 2, 1))
    assert not case.consents["k-1"].covers("jobcenter-unna", "aufenthaltssicherung", "stammdaten", date(2025, 2, 1))
    run(case, case.withdraw_consent(consent_id="k-1", scope=WithdrawalScope.ALL, recipient=None,
                                    data_category=None, effective_at=now()))
    assert case.consents["k-1"].status(date(2025, 2, 1)) == "withdrawn"
    with pytest.raises(RuleViolation, match="withdrawn already"):
        case.withdraw_consent(consent_id="k-1", scope=WithdrawalScope.ALL, recipient=None, data_category=None,
                              effective_at=now())


def test_withdrawal_stays_possible_after_closure_and_unknown_consents_are_not_found():
    case = opened_case()
    run(case, case.grant_consent(**consent()))
    run(case, case.close(reason=ClosureReason.OTHER, closed_on=date(2025, 3, 1)))
    assert case.withdraw_consent(consent_id="k-1", scope=WithdrawalScope.ALL, recipient=None, data_category=None,
                                 effective_at=now())
    with pytest.raises(NotFound):
        case.withdraw_consent(consent_id="nope", scope=WithdrawalScope.ALL, recipient=None, data_category=None,
                              effective_at=now())


def test_health_data_needs_the_special_categories_flag():
    case = opened_case()
    with pytest.raises(RuleViolation, match="special category"):
        case.grant_consent(**consent(data_categories=[DataCategory.HEALTH]))
    assert case.grant_consent(**consent(data_categories=[DataCategory.HEALTH], special_categories=True))


def test_a_paused_case_refuses_work_until_resumed():
    case = through_plan()
    run(case, case.pause(reason=PauseReason.ABROAD, paused_on=date(2025, 3, 1), expected_resume_on=None))
    with pytest.raises(RuleViolation, match="paused since 2025-03-01: resume it before you hold a review"):
        case.hold_review(review_id="r", held_on=date(2025, 3, 2), notes=None, next_review_on=None)
    with pytest.raises(RuleViolation, match="resume it before you pause it"):
        case.pause(reason=PauseReason.OTHER, paused_on=date(2025, 3, 2), expected_resume_on=None)
    with pytest.raises(RuleViolation, match="before the pause began"):
        case.resume(resumed_on=date(2025, 2, 28))
    run(case, case.resume(resumed_on=date(2025, 4, 1)))
    with pytest.raises(RuleViolation, match="not paused"):
        case.resume(resumed_on=date(2025, 4, 2))
    assert case.hold_review(review_id="r", held_on=date(2025, 4, 2), notes=None, next_review_on=None)


def test_goals_are_achieved_or_dropped_once_and_unknown_goals_are_not_found():
    case = through_plan()
    run(case, case.achieve_goal(goal_id="g-1", achieved_on=date(2025, 3, 1)))
    with pytest.raises(RuleViolation, match="goal g-1 was achieved already"):
        case.drop_goal(goal_id="g-1", reason=GoalDropReason.OTHER, dropped_on=date(2025, 3, 2))
    with pytest.raises(NotFound):
        case.achieve_goal(goal_id="g-9", achieved_on=date(2025, 3, 1))
    with pytest.raises(RuleViolation, match="used already"):
        case.agree_plan(plan_id="p-2", goals=[goal("g-1")], agreed_on=date(2025, 3, 3))


def test_transfer_needs_a_change_and_rechtskreis_a_new_value():
    case = through_plan()
    with pytest.raises(RuleViolation, match="nothing to transfer"):
        case.transfer(municipality=case.municipality, team=case.team, team_organisation_id=case.team_organisation_id,
                      case_manager_id=case.case_manager_id, transferred_on=date(2025, 3, 1))
    run(case, case.transfer(municipality="05978036", team="stadt", team_organisation_id="stadt-unna",
                            case_manager_id="staff-2", transferred_on=date(2025, 3, 1)))
    assert (case.municipality, case.team_organisation_id) == ("05978036", "stadt-unna")
    with pytest.raises(RuleViolation, match="AsylbLG already"):
        case.change_rechtskreis(current=Rechtskreis.ASYLBLG, changed_on=date(2025, 3, 2))
    [changed] = case.change_rechtskreis(current=Rechtskreis.SGB_II, changed_on=date(2025, 3, 2))
    assert changed.previous == Rechtskreis.ASYLBLG


def test_dates_before_the_opening_are_refused():
    case = opened_case()
    with pytest.raises(RuleViolation, match=r"closed_on \(2024-12-31\) cannot be before the case was opened"):
        case.close(reason=ClosureReason.OTHER, closed_on=date(2024, 12, 31))


def test_residence_status_dates_must_be_in_order():
    case = opened_case()
    with pytest.raises(RuleViolation, match="status_since"):
        case.record_residence_status(status="duldung_60a", status_since=date(2025, 3, 1), valid_until=None,
                                     perspective="rot", recorded_on=date(2025, 2, 1), dates=SEALED_DATES)
    [e] = case.record_residence_status(status="duldung_60a", status_since=date(2024, 3, 1),
                                       valid_until=date(2025, 9, 1), perspective="rot", recorded_on=date(2025, 2, 1),
                                       dates=SEALED_DATES)
    assert isinstance(e, ev.ResidenceStatusRecorded) and e.dates == SEALED_DATES  # the dates only encrypted
    assert "2024-03-01" not in e.model_dump_json() and "2025-09-01" not in e.model_dump_json()


SEALED_DATES = Encrypted(key_id="k-1", nonce="AAAAAAAAAAAAAAAA", ciphertext="c2VhbGVk")
