"""kim_runtime.key_admin: the container-side key administration's command line, shared by cases and referrals."""

from __future__ import annotations

import pytest

from kim_runtime import key_admin


class Refused(ValueError):
    pass


def call(argv, run):
    return key_admin.main(argv, prog="python -m kim_x.key_admin", description="x", keys="test keys",
                          errors=(Refused,), run=run)


def test_rotate_reports_progress_with_rate_and_time_left_and_prints_the_lines(capsys):
    seen = []

    def run(command, batch_size, progress):
        seen.append((command, batch_size))
        progress(5, 10)
        progress(10, 10)
        return ["10 re-wrapped"]

    assert call(["rotate", "--batch-size", "7"], run) == 0
    out, err = capsys.readouterr()
    assert seen == [("rotate", 7)] and out.strip() == "10 re-wrapped"
    first, last = err.strip().splitlines()
    assert first.startswith("5/10 re-wrapped, ") and "keys/s" in first and "s left" in first
    assert last.startswith("10/10 re-wrapped") and last.endswith("0 s left")


def test_an_operators_error_exits_2_with_its_message_and_anything_else_raises(capsys):
    def refused(*_):
        raise Refused("the old KEK does not open the keys")

    assert call(["status"], refused) == 2
    assert capsys.readouterr().err.strip() == "error: the old KEK does not open the keys"

    def broken(*_):
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        call(["status"], broken)


@pytest.mark.parametrize("argv", [["rotate", "--batch-size", "0"], ["shred"], []])
def test_bad_arguments_are_refused_before_anything_runs(argv):
    ran = []
    with pytest.raises(SystemExit) as exit_:
        call(argv, lambda *a: ran.append(a) or [])
    assert exit_.value.code == 2 and ran == []
