"""A bearer token per role for trying the APIs against the demo data (signed with the stack's auth secret)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from kim_runtime.auth import Principal, Role, issue_token

from kim_cli.demo.data import JOBCENTER

TTL_SECONDS = 7 * 24 * 3600

ROLES = (
    ("case manager", Principal(sub="ma-002", role=Role.CASE_MANAGER, team="stadt-luenen", municipality="05978024",
                               name="Fallmanagement Lünen"),
     "ma-002, team stadt-luenen, Lünen 05978024"),
    ("team lead", Principal(sub="lead-kreis-unna", role=Role.TEAM_LEAD, team="kreis-unna", name="Teamleitung KI"),
     "team kreis-unna"),
    ("partner", Principal(sub="sachbearbeitung-jobcenter", role=Role.PARTNER, organisation=JOBCENTER,
                          name="Jobcenter Kreis Unna"), f"organisation {JOBCENTER}"),
    ("auditor", Principal(sub="pruefung-1", role=Role.AUDITOR, name="Rechnungsprüfung"),
     "reads all, personal data withheld"),
    ("admin", Principal(sub="admin-1", role=Role.ADMIN, name="Administration"), "everything"),
)


def role_tokens(secret: str) -> list[tuple[str, str, str]]:
    """(role label, who it is, token) for each role."""
    return [(label, who, issue_token(secret, p, ttl_seconds=TTL_SECONDS)) for label, p, who in ROLES]


def token_for(secret: str, label: str) -> str:
    return next(t for lab, _, t in role_tokens(secret) if lab == label)


# what the web app's sign-in page shows for each demo role: (button, who it is)
GERMAN = {"case manager": ("Fallmanagement Lünen", "ma-002, Team stadt-luenen, Lünen"),
          "team lead": ("Teamleitung Kreis Unna", "Team kreis-unna; darf Daten löschen"),
          "partner": ("Jobcenter Kreis Unna (Partner)", f"Posteingang der Organisation {JOBCENTER}"),
          "auditor": ("Prüfung", "liest alles, personenbezogene Daten verborgen"),
          "admin": ("Administration", "alles")}


def write_sign_ins(path: Path, secret: str) -> Path:
    """The demo sign-ins the web app offers in development (KIM_WEB_DEMO_TOKENS_FILE), readable by this user only."""
    entries = [{"label": GERMAN.get(label, (label, who))[0], "who": GERMAN.get(label, (label, who))[1], "token": token}
               for label, who, token in role_tokens(secret)]
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(entries, fh, ensure_ascii=False)
    return path
