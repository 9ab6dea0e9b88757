"""Posted forms -> API request bodies. Form fields are named like the API's fields ("goals.0.target_date"), so the
fields a 422 names are the fields the page marks. Empty fields are left out: the API's defaults apply."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl

from .formats import iso_date


class Form:
    """A url-encoded form body (the only kind the pages post)."""

    def __init__(self, pairs: Iterable[tuple[str, str]]):
        self.pairs = list(pairs)

    @classmethod
    def parse(cls, raw: bytes) -> Form:
        return cls(parse_qsl(raw.decode("utf-8", errors="replace"), keep_blank_values=True))

    def get(self, name: str, default: str = "") -> str:
        return next((v for k, v in self.pairs if k == name), default)

    def getlist(self, name: str) -> list[str]:
        return [v for k, v in self.pairs if k == name and v != ""]

    def values(self) -> dict[str, object]:
        """What the user entered, for showing the form again after a refusal."""
        out: dict[str, object] = {}
        for k, v in self.pairs:
            if k in out:
                out[k] = [*out[k], v] if isinstance(out[k], list) else [out[k], v]
            else:
                out[k] = v
        return out


def _value(form: Form, name: str, kind: str):
    if kind == "list":
        return form.getlist(name) or None
    raw = form.get(name).strip()
    if kind == "bool":
        return raw in ("on", "true", "1")
    if not raw:
        return None
    if kind == "date":
        return iso_date(raw)
    if kind == "int":
        return int(raw) if raw.isdecimal() else raw  # not a number: the API's 422 names the field
    if kind == "words":
        return [w.lower() for w in re.split(r"[\s,;]+", raw) if w]
    return raw


def body(form: Form, spec: dict[str, str]) -> dict:
    out = {}
    for name, kind in spec.items():
        value = _value(form, name, kind)
        if value is not None and not (kind == "bool" and value is False):
            out[name] = value
    return out


CLIENT = {"name": "text", "date_of_birth": "date", "address": "text", "contact": "text", "languages": "words",
          "arrival_year": "int"}
CASE = {"client_id": "text", "municipality": "text", "baustein": "text", "team": "text",
        "team_organisation_id": "text", "access_channel": "text", "opened_on": "date"}
CONSENT = {"recipients": "list", "purposes": "list", "data_categories": "list", "special_categories": "bool",
           "form": "text", "informed_in": "text", "granted_on": "date", "valid_until": "date"}
WITHDRAWAL = {"scope": "text", "recipient": "text", "data_category": "text"}
RESIDENCE = {"status": "text", "status_since": "date", "valid_until": "date", "perspective": "text",
             "recorded_on": "date"}
MILESTONE = {"milestone": "text", "reached_on": "date", "language_level": "text"}
CLOSURE = {"reason": "text", "closed_on": "date"}
REVIEW = {"held_on": "date", "notes": "text", "next_review_on": "date"}
GOAL_ACHIEVED = {"achieved_on": "date"}
GOAL_DROPPED = {"reason": "text", "dropped_on": "date"}
REFERRAL = {"to_organisation_id": "text", "purpose": "text", "data_categories": "list", "consent_id": "text",
            "due_on": "date"}
DECLINE = {"reason": "text"}
APPOINTMENT = {"appointment_on": "date"}
OUTCOME = {"outcome": "text"}


def rows(form: Form, prefix: str, spec: dict[str, str], count: int) -> tuple[list[dict], list[int]]:
    """Repeated rows ("goals.0.domain", ...): the filled ones, and the form row each API index came from."""
    out, origin = [], []
    for i in range(count):
        row = {k: _value(form, f"{prefix}.{i}.{k}", kind) for k, kind in spec.items()}
        if any(v not in (None, "") for v in row.values()):
            out.append({k: v for k, v in row.items() if v is not None})
            origin.append(i)
    return out, origin


def renumber(fields: dict[str, str], prefix: str, origin: list[int]) -> dict[str, str]:
    """Field errors of the API's rows ("goals.1.target_date") moved to the form rows they came from."""
    out = {}
    for name, message in fields.items():
        parts = name.split(".")
        if len(parts) > 1 and parts[0] == prefix and parts[1].isdecimal() and int(parts[1]) < len(origin):
            parts[1] = str(origin[int(parts[1])])
        out[".".join(parts)] = message
    return out
