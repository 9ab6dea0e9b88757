"""The scheduler's pure parts (issue 19): the changes an append hands to kim_append, the manual clock that wakes
the worker, and the worklist's windows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from kim_runtime.envelope import Envelope
from kim_runtime.scheduler import Cancel, Deadline, ManualClock, SystemClock, changes_of

from kim_cases.worklist import Due, window

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def test_the_changes_of_an_append_name_the_event_that_set_each_deadline():
    envs = [Envelope(type="kim.test.A", source="/t", stream_id="s", data={}) for _ in range(2)]

    def schedule(env):
        yield Deadline(f"k:{env.id}", "kind", env.stream_id, T0, {"n": 1})
        yield Cancel(key="old")
        yield Cancel(prefix="gone:")
    out = changes_of(schedule, envs)
    assert out[0] == {"key": f"k:{envs[0].id}", "kind": "kind", "stream_id": "s", "due_at": T0.isoformat(),
                      "data": {"n": 1}, "set_by": envs[0].id}
    assert out[1:3] == [{"key": "old", "cancel": True}, {"cancel_prefix": "gone:"}]
    assert len(out) == 6 and changes_of(None, envs) == []


def test_a_manual_clock_stands_still_until_moved_and_wakes_its_watchers():
    clock, woken = ManualClock(T0), []
    clock.on_move(lambda: woken.append(clock.now()))
    assert clock.now() == T0 and clock.seconds_until(T0 + timedelta(days=1)) is None
    clock.advance(timedelta(hours=30))
    assert woken == [T0 + timedelta(hours=30)] and clock.today() == date(2026, 3, 3)
    assert SystemClock().seconds_until(datetime.now(UTC) - timedelta(seconds=5)) == 0.0


@pytest.mark.parametrize(("due", "first", "last"), [
    (Due.TODAY, date(2026, 3, 2), date(2026, 3, 2)),
    (Due.OVERDUE, None, date(2026, 3, 1)),
    (Due.WEEK, date(2026, 3, 2), date(2026, 3, 8)),
])
def test_the_worklist_windows(due, first, last):
    assert window(due, date(2026, 3, 2)) == (first, last)
