"""After the client's erasure a case records nothing new about them: every command is refused naming the erasure,
except closure and consent withdrawal (which must stay as easy as granting). Tested as the whole command list ×
erased / not erased."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from kim_runtime.errors import RuleViolation
from kim_schemas.case_codes import ClosureReason, MilestoneKind, PauseReason, WithdrawalScope
from kim_schemas.codes import Rechtskreis, ResidenceStatus

from kim_cases.domain import Case

from .factory import assessment, consent, goal, now, opened_case, run

ERASED_AT = datetime(2025, 3, 2, 12, 0, tzinfo=UTC)
LATER = date(2025, 3, 10)

# command -> (how to call it on a case that has a consent, an assessment, a plan and a pause history, allowed after
# the client's erasure?)
COMMANDS = {
    "grant consent": (lambda c: c.grant_consent(**consent("k-2")), False),
    "withdraw consent": (lambda c: c.withdraw_consent(consent_id="k-1", scope=WithdrawalScope.ALL, recipient=None,
                                                      data_category=None, effective_at=now()), True),
    "complete assessment": (lambda c: c.complete_assessment(**assessment(assessed_on=LATER)), False),
    "record residence status": (lambda c: c.record_residence_status(
        status=ResidenceStatus.TOLERATION_60A, status_since=date(2024, 6, 1), valid_until=None, perspective="gelb",
        recorded_on=LATER, dates=None), False),
    "change Rechtskreis": (lambda c: c.change_rechtskreis(current=Rechtskreis.SGB_II, changed_on=LATER), False),
    "agree plan": (lambda c: c.agree_plan(plan_id="p-2", goals=[goal("g-9")], agreed_on=LATER), False),
    "hold review": (lambda c: c.hold_review(review_id="r-1", held_on=LATER, notes=None, next_review_on=None), False),
    "achieve goal": (lambda c: c.achieve_goal(goal_id="g-1", achieved_on=LATER), False),
    "drop goal": (lambda c: c.drop_goal(goal_id="g-1", reason="ersetzt", dropped_on=LATER), False),
    "record milestone": (lambda c: c.record_milestone(milestone=MilestoneKind.COURSE_START, reached_on=LATER), False),
    "transfer": (lambda c: c.transfer(municipality="05978036", team="stadt", team_organisation_id="stadt-unna",
                                      case_manager_id="staff-2", transferred_on=LATER), False),
    "pause": (lambda c: c.pause(reason=PauseReason.ILLNESS, paused_on=LATER, expected_resume_on=None), False),
    "close": (lambda c: c.close(reason=ClosureReason.OTHER, closed_on=LATER), True),
}


def working_case(client_erased: bool) -> Case:
    case = opened_case()
    run(case, case.grant_consent(**consent()))
    run(case, case.complete_assessment(**assessment()))
    run(case, case.agree_plan(plan_id="p-1", goals=[goal("g-1")], agreed_on=date(2025, 2, 5)))
    case.client_erased_at = ERASED_AT if client_erased else None
    return case


@pytest.mark.parametrize("client_erased", [False, True], ids=["client kept", "client erased"])
@pytest.mark.parametrize("command", COMMANDS)
def test_after_erasure_only_closure_and_withdrawal_go_through(command, client_erased):
    call, allowed_after_erasure = COMMANDS[command]
    case = working_case(client_erased)
    if client_erased and not allowed_after_erasure:
        with pytest.raises(RuleViolation) as refused:
            call(case)
        message = str(refused.value)
        assert "was erased at 2025-03-02T12:00:00+00:00" in message and "right to erasure" in message
        assert "close the case instead" in message
    else:
        assert call(case)  # decides events


def test_resuming_a_paused_case_is_refused_once_the_client_is_erased():
    case = working_case(client_erased=False)
    run(case, case.pause(reason=PauseReason.ILLNESS, paused_on=LATER, expected_resume_on=None))
    case.client_erased_at = ERASED_AT
    with pytest.raises(RuleViolation, match="erased"):
        case.resume(resumed_on=date(2025, 3, 20))
    assert case.close(reason=ClosureReason.OTHER, closed_on=date(2025, 3, 20))
