"""The demo sign-ins `kim run` hands the web app: one per demo role, German, readable by this user only."""

from __future__ import annotations

import stat

from kim_cli.demo.tokens import ROLES, write_sign_ins
from kim_runtime.auth import decode_token

from kim_web.application.user import user_of


def test_the_demo_sign_ins_file_holds_a_token_per_role_for_this_user_only(tmp_path):
    import json

    path = write_sign_ins(tmp_path / "stack" / "demo-sign-ins.json", "s" * 40)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    entries = json.loads(path.read_text(encoding="utf-8"))
    assert [e["label"] for e in entries] == ["Fallmanagement Lünen", "Teamleitung Kreis Unna",
                                             "Jobcenter Kreis Unna (Partner)", "Prüfung", "Administration"]
    for entry, (_, principal, _) in zip(entries, ROLES, strict=True):
        assert decode_token("s" * 40, entry["token"]) == principal
        assert user_of(entry["token"]).role == principal.role.value  # what the web app reads from it
