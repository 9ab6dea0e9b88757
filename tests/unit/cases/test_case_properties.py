"""Property-based: any sequence of commands keeps the case's invariants, refused commands change nothing, and
the state rebuilt from the emitted events equals the state the commands built."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from kim_runtime.errors import KimError
from kim_schemas import cases as ev
from kim_schemas.case_codes import ClosureReason, GoalDropReason, MilestoneKind, PauseReason, WithdrawalScope
from kim_schemas.codes import DataCategory, Rechtskreis

from kim_cases.domain import Case, Phase

from .factory import OPENED, assessment, consent, goal, now, opening

days = st.integers(-5, 400).map(lambda n: OPENED + timedelta(days=n))
goal_ids = st.sampled_from(["g-1", "g-2", "g-3"])
consent_ids = st.sampled_from(["k-1", "k-2"])

casework = st.one_of(
    st.tuples(st.just("grant_consent"), st.builds(
        lambda cid, d, until: consent(cid, granted_on=d, valid_until=until), consent_ids, days | st.just(OPENED),
        st.none() | st.none() | days)),
    st.tuples(st.just("withdraw_consent"), st.builds(
        lambda cid, scope, r, c: dict(consent_id=cid, scope=scope, recipient=r, data_category=c, effective_at=now()),
        consent_ids, st.sampled_from(WithdrawalScope), st.sampled_from(["abh-unna", "jobcenter-unna"]),
        st.sampled_from([DataCategory.RESIDENCE, DataCategory.IDENTITY]))),
    st.tuples(st.just("complete_assessment"), st.builds(lambda d: assessment(assessed_on=d), days)),
    st.tuples(st.just("agree_plan"), st.builds(
        lambda pid, gs, d: dict(plan_id=pid, goals=[goal(g) for g in gs], agreed_on=d),
        st.text("pq", min_size=1, max_size=3), st.lists(goal_ids, min_size=1, max_size=2, unique=True), days)),
    st.tuples(st.just("hold_review"), st.builds(
        lambda d: dict(review_id="r", held_on=d, notes=None, next_review_on=None), days)),
    st.tuples(st.just("achieve_goal"), st.builds(lambda g, d: dict(goal_id=g, achieved_on=d), goal_ids, days)),
    st.tuples(st.just("drop_goal"), st.builds(
        lambda g, d: dict(goal_id=g, reason=GoalDropReason.OTHER, dropped_on=d), goal_ids, days)),
    st.tuples(st.just("record_milestone"), st.builds(
        lambda d: dict(milestone=MilestoneKind.COURSE_START, reached_on=d), days)),
    st.tuples(st.just("change_rechtskreis"), st.builds(
        lambda r, d: dict(current=r, changed_on=d), st.sampled_from(Rechtskreis), days)),
)
interruptions = st.one_of(
    st.tuples(st.just("pause"), st.builds(
        lambda d: dict(reason=PauseReason.ILLNESS, paused_on=d, expected_resume_on=None), days)),
    st.tuples(st.just("resume"), st.builds(lambda d: dict(resumed_on=d), days)),
    st.tuples(st.just("transfer"), st.builds(
        lambda m, d: dict(municipality=m, team="stadt", team_organisation_id="stadt-x", case_manager_id="s-2",
                          transferred_on=d), st.sampled_from(["05978024", "05978036"]), days)),
    st.tuples(st.just("close"), st.builds(
        lambda r, d: dict(reason=r, closed_on=d), st.sampled_from(ClosureReason), days)),
)
# casework four times as often as pauses, transfers and closure, so sequences get deep into the lifecycle
commands = st.sampled_from([casework] * 6 + [interruptions]).flatmap(lambda branch: branch)


def snapshot(case: Case) -> tuple:
    return (case.version, case.phase, case.paused, case.closure, case.rechtskreis, case.municipality,
            {k: (g.status, g.on) for k, g in case.goals.items()},
            {k: (c.recipients, c.data_categories, c.withdrawn_at) for k, c in case.consents.items()},
            len(case.plans), len(case.reviews), len(case.milestones))


@settings(max_examples=300, deadline=None)
@given(st.booleans(), st.lists(commands, max_size=30))
def test_any_command_sequence_keeps_the_invariants(prelude, sequence):
    if prelude:  # half the sequences start with consent and assessment, so plans and goals are reached often
        sequence = [("grant_consent", consent()), ("complete_assessment", assessment())] + sequence
    case = Case("case-p")
    emitted = case.open(**opening())
    case.apply(emitted[0])
    for name, args in sequence:
        before, phase_before = snapshot(case), case.phase
        try:
            events = getattr(case, name)(**args)
        except KimError:
            assert snapshot(case) == before, f"refused {name} changed the case"
            continue
        was_closed = case.closed
        for e in events:
            case.apply(e)
        emitted += events
        # closure is final: after it only a consent withdrawal is accepted
        assert not was_closed or name == "withdraw_consent"
        # phases never go back
        assert case.phase.rank >= phase_before.rank
        agreed, achieved = case.goal_counts()
        assert achieved <= agreed
        if isinstance(events[-1], ev.CaseClosed):
            assert events[-1].goals_agreed == agreed and events[-1].goals_achieved == achieved
        assert not (case.closed and case.paused)
    # every plan was agreed after a consent and an assessment
    types = [type(e) for e in emitted]
    if ev.IntegrationPlanAgreed in types:
        first_plan = types.index(ev.IntegrationPlanAgreed)
        assert ev.ConsentGranted in types[:first_plan] and ev.AssessmentCompleted in types[:first_plan]
    assert case.phase is not Phase.CLOSED or case.closed
    # the state is a pure function of the events
    assert snapshot(Case.from_events("case-p", emitted)) == snapshot(case)
