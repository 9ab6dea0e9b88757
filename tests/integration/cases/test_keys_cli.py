"""The commands as an operator runs them: `kim keys status | rotate | generate`, `python -m kim_cases.key_admin`
(the same inside the cases container), and `python -m kim_cases`, which will not start without a KEK outside dev."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from kim_runtime import db

from kim_cases.adapters import key_setup
from kim_cases.adapters.keyring import MasterKeyError, load, parse
from kim_cli.main import app as kim
from typer.testing import CliRunner

from .test_key_rotation import NEW, OLD, RING, keyring, seeded

BIN = Path(sys.executable).parent


def _missing() -> str:
    try:
        load(env="production", master_key=None, master_key_file=None)
    except MasterKeyError as exc:
        return str(exc)
    raise AssertionError("outside dev, no KEK must be an error")


MISSING = _missing()  # what a process outside dev without a KEK says


def operator_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    """The caller's environment without dev mode or any KEK, the stack dir pointed at an empty folder."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("KIM_ENV", "KIM_MASTER_KEY", "KIM_MASTER_KEY_FILE") and not k.endswith("_DATABASE_URL")}
    return env | {"KIM_STACK_DIR": str(tmp_path / "no-stack")} | settings


def table(status_text: str) -> dict[str, list[str]]:
    """KEK id -> [data keys, role here] from the rows of the status table (between header and the raw-key line)."""
    lines = status_text.splitlines()
    return {line.split()[0]: line.split()[1:3] for line in lines[1:] if not line.startswith("raw ")
            and line.split()[0].startswith("kek-")}


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)


def test_the_service_will_not_start_outside_dev_without_a_kek(tmp_path):
    done = run([str(BIN / "python"), "-m", "kim_cases"], operator_env(tmp_path))
    assert done.returncode == 1
    assert done.stderr.strip() == f"kim_cases cannot start: {MISSING}"


@pytest.mark.postgres
async def test_kim_keys_rotate_and_status_as_an_operator_runs_them(fresh_db: str, tmp_path: Path):
    await seeded(fresh_db, keyring(OLD.entry()), 7)
    pool = await db.create_pool(fresh_db, max_size=1)
    try:
        async with pool.acquire() as conn:
            await key_setup.register(conn, keyring(RING))  # the service was restarted with the new keyring
    finally:
        await pool.close()
    env = operator_env(tmp_path, KIM_CASES_DATABASE_URL=fresh_db, KIM_MASTER_KEY=RING)

    status = run([str(BIN / "kim"), "keys", "status"], env)
    assert status.returncode == 0, status.stderr
    assert table(status.stdout) == {"kek-2025": ["0", "current"], "kek-2024": ["7", "previous"]}
    assert "7 data keys are not under the current KEK 'kek-2025': rotate" in status.stdout

    rotated = run([str(BIN / "kim"), "keys", "rotate", "--batch-size", "3"], env)
    assert rotated.returncode == 0, rotated.stderr
    assert "re-wrapped 7 data keys from kek-2024 to 'kek-2025'" in rotated.stdout
    assert "re-wrapping" in rotated.stderr and "7/7" in rotated.stderr  # tqdm: bar, count, rate, time left
    again = run([str(BIN / "python"), "-m", "kim_cases.key_admin", "status"],
                operator_env(tmp_path, KIM_DATABASE_URL=fresh_db, KIM_MASTER_KEY=RING))
    assert again.returncode == 0, again.stderr
    assert table(again.stdout) == {"kek-2025": ["7", "current"], "kek-2024": ["0", "previous"]}
    assert "no data key is wrapped under kek-2024 any more: drop it" in again.stdout



def test_kim_keys_generate_prints_an_entry_the_service_accepts():
    done = CliRunner().invoke(kim, ["keys", "generate", "--id", "kek-2026"])
    assert done.exit_code == 0, done.output
    [kek] = parse(done.stdout, "generated")
    assert kek.kek_id == "kek-2026" and kek.key not in (OLD.key, NEW.key)
    bad = CliRunner().invoke(kim, ["keys", "generate", "--id", "kek 2026"])
    assert bad.exit_code == 2 and "use 1-64 characters" in bad.stderr


@pytest.mark.postgres
def test_without_a_kek_rotate_says_where_to_put_one_and_status_before_the_service_ran_says_to_start_it(
        fresh_db: str, tmp_path: Path, monkeypatch):
    for name, value in operator_env(tmp_path, KIM_CASES_DATABASE_URL=fresh_db).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("KIM_ENV", raising=False)
    no_key = CliRunner().invoke(kim, ["keys", "rotate"])
    assert no_key.exit_code == 2 and f"error: {MISSING}" in no_key.stderr
    not_yet = CliRunner().invoke(kim, ["keys", "status"])
    assert not_yet.exit_code == 2 and "start the cases service once" in not_yet.stderr
