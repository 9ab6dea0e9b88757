"""deploy/postgres/init.sh: per service an owner role, the service's own role and a database, from the passwords compose
passes in.

psql is replaced by a recorder here (unit tier); the SQL itself was run against a real PostgreSQL 18 when written,
and runs for real on every first `docker compose up`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.unit.test_compose_file import ROOT, SERVICES, compose, environment

INIT = ROOT / "deploy" / "postgres" / "init.sh"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def run_init(tmp_path: Path, **overrides: str) -> subprocess.CompletedProcess:
    fake = tmp_path / "bin" / "psql"
    fake.parent.mkdir()
    # Records its arguments (one per line) and the SQL on stdin, one file per call.
    fake.write_text('#!/bin/sh\nn=$(ls "$CALLS" | wc -l)\nprintf "%s\\n" "$@" > "$CALLS/$n.args"\ncat > "$CALLS/$n.sql"\n')
    fake.chmod(0o755)
    calls = tmp_path / "calls"
    calls.mkdir()
    env = {"PATH": f"{fake.parent}:{os.environ['PATH']}", "CALLS": str(calls), "POSTGRES_USER": "postgres"}
    env |= {f"KIM_{s.upper()}_DB_PASSWORD": f"secret-{s}-0123456789" for s in SERVICES}
    env |= {f"KIM_{s.upper()}_DB_APP_PASSWORD": f"app-{s}-0123456789" for s in SERVICES} | overrides
    return subprocess.run(["bash", str(INIT)], env=env, capture_output=True, text=True)


def psql_variables(args: list[str]) -> dict[str, str]:
    return dict(args[i + 1].split("=", 1) for i, a in enumerate(args) if a == "-v" and "=" in args[i + 1])


def test_each_service_gets_its_own_role_and_database(tmp_path):
    result = run_init(tmp_path)
    assert result.returncode == 0, result.stderr
    calls = sorted((tmp_path / "calls").glob("*.args"))
    seen = {}
    for call in calls:
        variables = psql_variables(call.read_text().splitlines())
        sql = call.with_suffix(".sql").read_text()
        assert variables["ON_ERROR_STOP"] == "1"
        assert "CREATE ROLE" in sql and "CREATE DATABASE %I OWNER %I" in sql and "REVOKE ALL ON DATABASE" in sql
        assert "NOSUPERUSER NOCREATEDB NOCREATEROLE" in sql  # the service's role gets no rights of its own
        seen[variables["name"]] = variables["password"]
        seen[variables["app"]] = variables["app_password"]
    assert seen == ({f"kim_{s}": f"secret-{s}-0123456789" for s in SERVICES}
                    | {f"kim_{s}_app": f"app-{s}-0123456789" for s in SERVICES})


@pytest.mark.parametrize("variable", ["KIM_STAFFING_DB_PASSWORD", "KIM_STAFFING_DB_APP_PASSWORD"])
@pytest.mark.parametrize("password", ["", "short", "has spaces in it", "p@ss:word/with-url-chars"])
def test_a_missing_or_unusable_password_stops_init_with_a_message(tmp_path, password, variable):
    result = run_init(tmp_path, **{variable: password})
    assert result.returncode != 0
    assert f"{variable} must be" in result.stderr


def test_compose_passes_every_database_password_and_mounts_the_script():
    postgres = compose()["services"]["postgres"]
    assert {f"KIM_{s.upper()}_DB{k}_PASSWORD" for s in SERVICES for k in ("", "_APP")} <= set(environment(postgres))
    assert "./deploy/postgres/init.sh:/docker-entrypoint-initdb.d/init.sh:ro" in postgres["volumes"]
    assert os.access(INIT, os.X_OK), "the image runs executable init scripts; a non-executable one is sourced"
