"""Every `kim audit` command x every role x with and without a token, against the one rule in
kim_runtime.policy.COMMANDS: the commands that show a client's (or a staff member's) data refuse a caller without a
token (401's message) and a role the policy does not name (403's message); the token-less ones run for anyone. The
real command runs (typer's runner), its databases unreachable: an allowed caller gets as far as the database (or
the file, or the signing key), a refused one is stopped before anything is read."""

from __future__ import annotations

import time

import jwt
import pytest
from kim_runtime.auth import ISSUER, Principal, Role, issue_token
from kim_runtime.policy import ALLOWED, COMMANDS, command_expected
from typer.testing import CliRunner

from kim_cli.audit_cmd import app

SECRET = "unit-command-policy-secret-0123456789"
NOWHERE = "postgresql://kim@127.0.0.1:9/kim"  # the discard port: refused at once
ARGS = {
    "audit.case": ["case", "case-1"],
    "audit.referral": ["referral", "referral-1"],
    "audit.report": ["report", "report-1"],
    "audit.position": ["position", "position-1"],
    "audit.erasures": ["erasures"],
    "audit.verify": ["verify", "--no-kafka", "--service", "cases"],
    "audit.anchor": ["anchor", "--service", "cases"],
    "audit.verify-export": ["verify-export", "/nonexistent/trail.json"],
    "audit.keygen": ["keygen"],
}
NEEDS_TOKEN = "give your token"
WRONG_ROLE = "may not run kim audit"
REACHED = ("cannot connect", "cannot read /nonexistent", "signing key", "KIM_AUDIT_SIGNING_KEY=")


def _token(role: Role, **claims) -> str:
    organisation = "awo-unna" if role is Role.PARTNER else None
    return issue_token(SECRET, Principal(sub=f"{role.value}-1", role=role, organisation=organisation, **claims))


@pytest.fixture
def env(monkeypatch) -> dict[str, str]:
    for name in ("KIM_TOKEN", "KIM_AUDIT_TOKEN", "KIM_OIDC_ISSUER"):
        monkeypatch.delenv(name, raising=False)
    return {"KIM_AUTH_SECRET": SECRET, **{f"KIM_{s}_DATABASE_URL": NOWHERE
                                          for s in ("CASES", "STAFFING", "REFERRALS", "REPORTING")}}


def _run(args: list[str], env: dict[str, str]):
    result = CliRunner().invoke(app, args, env=env)
    return result.exit_code, result.output + (result.stderr or "")


def test_every_command_is_in_the_policy():
    commands = {f"audit.{c.name or c.callback.__name__.replace('_', '-')}" for c in app.registered_commands}
    assert commands == set(COMMANDS) == set(ARGS)


def test_the_matrix_command_x_role_x_token(env):
    cells = {ALLOWED: 0, 401: 0, 403: 0}
    for command, args in ARGS.items():
        for role in (None, *Role):
            want = command_expected(command, role)
            cell_env = env | ({"KIM_TOKEN": _token(role)} if role else {})
            code, out = _run(args, cell_env)
            where = f"{command} as {role.value if role else 'no token'}: {out}"
            if want == 401:
                assert code == 2 and NEEDS_TOKEN in out, where
            elif want == 403 and role is Role.SERVICE:  # the CLI holds no service token secret: such a token is
                # refused before its role is looked at (and one signed with KIM_AUTH_SECRET is no service token)
                assert code == 2 and "the token was refused" in out and "accepts no service tokens" in out, where
            elif want == 403:
                assert code == 2 and WRONG_ROLE in out and role.value in out, where
            else:
                assert NEEDS_TOKEN not in out and WRONG_ROLE not in out, where
                assert code == 0 or any(r in out for r in REACHED), where
            cells[want] += 1
    print(f"{sum(cells.values())} cells: {cells}")
    # the rule: only auditors and admins read through the audit trail, the token-less commands run for anyone
    gated = [c for c, r in COMMANDS.items() if not r.public]
    assert sorted(gated) == ["audit.case", "audit.erasures", "audit.position", "audit.referral", "audit.report"]
    assert cells[ALLOWED] == len(gated) * 2 + (len(COMMANDS) - len(gated)) * (len(Role) + 1)
    assert cells[401] == len(gated) and cells[403] == len(gated) * (len(Role) - 2)


def test_the_token_option_and_the_older_variable_are_taken_like_KIM_TOKEN(env):
    code, out = _run(["case", "case-1", "--token", _token(Role.AUDITOR)], env)
    assert "cannot connect" in out, out
    code, out = _run(["case", "case-1"], env | {"KIM_AUDIT_TOKEN": _token(Role.ADMIN)})
    assert "cannot connect" in out, out
    code, out = _run(["erasures", "--token", _token(Role.CASE_MANAGER)], env | {"KIM_TOKEN": _token(Role.ADMIN)})
    assert code == 2 and WRONG_ROLE in out, out  # --token wins over the environment


@pytest.mark.parametrize("token, why", [
    ("not-a-jwt", "not valid"),
    (jwt.encode({"sub": "a", "role": "auditor", "iss": ISSUER, "iat": 0, "exp": int(time.time()) - 60},
                SECRET, algorithm="HS256"), "expired"),
    (issue_token("another-secret-0123456789abcdef", Principal(sub="a", role=Role.AUDITOR)), "not valid"),
])
def test_a_token_that_does_not_verify_is_refused_before_any_read(env, token, why):
    code, out = _run(["case", "case-1", "--token", token], env)
    assert code == 2 and "the token was refused" in out and why in out.lower() and "cannot connect" not in out, out


def test_no_free_text_actor_is_taken(env):
    code, out = _run(["case", "case-1"], env | {"KIM_AUDIT_ACTOR": "cli:someone"})
    assert code == 2 and NEEDS_TOKEN in out, out
