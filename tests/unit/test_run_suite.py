"""tests/run_suite.sh (what `make test` runs): the own-stack tiers beside the rest, and an exit code that fails when
either side failed. Driven with a stand-in for pytest that records its arguments and exits as told."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "tests" / "run_suite.sh"


def run(tmp_path: Path, main_rc: int, own_rc: int) -> tuple[int, str, list[str]]:
    calls = tmp_path / "calls"
    fake = tmp_path / "pytest"
    fake.write_text(f"""#!/usr/bin/env bash
echo "$*" >> {calls}
if [[ "$1" == tests/rehearsal ]]; then echo own-side-output; exit {own_rc}; fi
exit {main_rc}
""")
    fake.chmod(0o755)
    out = subprocess.run(["bash", str(SCRIPT), str(fake), "-q", "-k", "x"], capture_output=True, text=True, timeout=60,
                         env=os.environ | {"KIM_TEST_LOG_DIR": str(tmp_path / "logs")})
    return out.returncode, out.stdout, sorted(calls.read_text().splitlines())


@pytest.mark.parametrize(("main_rc", "own_rc", "want"), [
    (0, 0, 0), (1, 0, 1), (0, 1, 1), (1, 2, 1), (5, 0, 0), (0, 5, 0), (5, 5, 5), (2, 5, 2), (5, 3, 3)])
def test_the_suite_fails_when_either_side_fails(tmp_path, main_rc, own_rc, want):
    rc, stdout, calls = run(tmp_path, main_rc, own_rc)
    assert rc == want, stdout
    assert calls == ["tests --ignore=tests/rehearsal --ignore=tests/faults -q -k x",
                     "tests/rehearsal tests/faults -q -k x"]
    assert "own-side-output" in stdout  # the side process's output is shown


def test_make_test_runs_the_suite_through_the_script():
    makefile = (SCRIPT.parents[1] / "Makefile").read_text()
    recipe = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "bash tests/run_suite.sh $(PYTEST) $(PYTEST_ARGS)" in recipe
