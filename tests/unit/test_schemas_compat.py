"""The pure compatibility rule: what in a new schema breaks readers of the committed one."""

import json
from enum import StrEnum

import pytest
from pydantic import ConfigDict, create_model

from kim_schemas.compat import breaking_changes
from kim_schemas.generate import SCHEMAS_DIR, schema_path


class Colour(StrEnum):
    RED = "rot"
    GREEN = "gruen"


BEFORE = {"case_id": (str, ...), "count": (int, ...), "colour": (Colour, ...), "note": (str | None, None),
          "tags": (list[str], [])}


def schema_of(**changes) -> dict:
    """The schema of BEFORE with fields changed (a type: now required; a tuple: (type, default)) or removed (None)."""
    fields = dict(BEFORE)
    for name, change in changes.items():
        if change is None:
            del fields[name]
        else:
            fields[name] = change if isinstance(change, tuple) else (change, ...)
    return create_model("Before", __config__=ConfigDict(extra="forbid"), **fields).model_json_schema()


OLD = schema_of()


def test_identical_schemas_are_compatible():
    assert breaking_changes(OLD, OLD) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"count": None}, "count: field removed"),
        ({"count": None, "total": int}, "count: field removed (renamed to 'total'?)"),
        ({"count": str}, "count: type changed from integer to string"),
        ({"note": str}, "note: optional field made required"),
        ({"tags": list[int]}, "tags[]: type changed from string to integer"),
        ({"extra": int}, "extra: new required field"),
    ],
)
def test_each_breaking_change_is_named(change, expected):
    problems = breaking_changes(OLD, schema_of(**change))
    assert any(p.startswith(expected) for p in problems), problems


def test_removed_enum_value_is_breaking_and_an_added_one_is_not():
    class Fewer(StrEnum):
        RED = "rot"

    class More(StrEnum):
        RED = "rot"
        GREEN = "gruen"
        AMBER = "gelb"

    assert breaking_changes(OLD, schema_of(colour=Fewer)) == ["colour: enum value(s) removed: gruen"]
    assert breaking_changes(OLD, schema_of(colour=More)) == []


def test_additive_and_widening_changes_are_compatible():
    assert breaking_changes(OLD, schema_of(remark=(str | None, None))) == []
    assert breaking_changes(OLD, schema_of(count=float, note=(str | int | None, None))) == []
    assert breaking_changes(OLD, schema_of(remark=str | None)) == ["remark: new required field (stored events do not have it)"]


def test_dropping_null_or_changing_a_date_format_is_a_type_change():
    old = {"type": "object", "properties": {"d": {"anyOf": [{"type": "string", "format": "date"}, {"type": "null"}]}}}
    not_null = {"type": "object", "properties": {"d": {"type": "string", "format": "date"}}}
    other_format = {"type": "object", "properties": {"d": {"anyOf": [
        {"type": "string", "format": "date-time"}, {"type": "null"}]}}}
    assert breaking_changes(old, not_null) == ["d: type changed from string(date) | null to string(date)"]
    assert breaking_changes(old, other_format)[0].startswith("d: type changed")


def test_fixing_a_value_to_a_constant_is_breaking():
    old = {"type": "object", "properties": {"purge": {"type": "boolean"}}}
    new = {"type": "object", "properties": {"purge": {"type": "boolean", "const": True}}}
    assert breaking_changes(old, new) == ["purge: value fixed to True"]
    assert breaking_changes(new, new) == []


def test_the_real_residence_status_v2_needed_a_new_version():
    def committed(version: int) -> dict:
        path = SCHEMAS_DIR / schema_path("kim.cases.ResidenceStatusRecorded", version)
        return json.loads(path.read_text(encoding="utf-8"))

    assert breaking_changes(committed(1), committed(2)) == [
        "status_since: new required field (stored events do not have it)"
    ]
