"""Samples of every event type, built from the models with hypothesis, validate against the committed JSON Schema."""

from __future__ import annotations

import json
import os
import types
import typing
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path

import pytest
from kim_runtime.envelope import Envelope
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from pydantic import AwareDatetime, BaseModel, ValidationError
from pydantic.fields import FieldInfo

from kim_schemas import EVENT_TYPES
from kim_schemas.generate import SCHEMAS_DIR, schema_path

_CONSTRAINTS = ("ge", "gt", "le", "lt", "min_length", "max_length", "pattern", "max_digits", "decimal_places")


def _constraints(metadata: typing.Iterable[object]) -> dict[str, typing.Any]:
    found: dict[str, typing.Any] = {}
    for item in metadata:
        if isinstance(item, FieldInfo):
            found |= _constraints(item.metadata)
            continue
        found |= {a: getattr(item, a) for a in _CONSTRAINTS if getattr(item, a, None) is not None}
    return found


def strategy_for(annotation: typing.Any, metadata: typing.Iterable[object] = ()) -> st.SearchStrategy:
    """A strategy for values of one field type, honouring the pydantic constraints on it."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return strategy_for(args[0], [*metadata, *annotation.__metadata__])
    c = _constraints(metadata)
    if origin in (typing.Union, types.UnionType):
        return st.one_of(*(strategy_for(a, metadata) for a in args))
    if annotation is type(None):
        return st.none()
    if origin is typing.Literal:
        return st.sampled_from(args)
    if origin is list:
        return st.lists(strategy_for(args[0]), min_size=c.get("min_length", 0), max_size=3)
    if origin is dict:
        return st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=8), max_size=2)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return st.sampled_from(list(annotation))
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return model_strategy(annotation)
    if annotation is bool:
        return st.booleans()
    if annotation is int:
        return st.integers(c.get("ge", -(10**6)), c.get("le", 10**6))
    if annotation is Decimal:
        places = c.get("decimal_places", 3)
        top = Decimal(10) ** (c.get("max_digits", 9) - places) - Decimal(1).scaleb(-places)
        return st.decimals(min_value=c.get("ge", 0), max_value=top, places=places, allow_nan=False)
    if annotation is date:
        return st.dates(date(1990, 1, 1), date(2040, 12, 31))
    if annotation is AwareDatetime:
        return st.datetimes(datetime(2000, 1, 1), datetime(2040, 1, 1), timezones=st.just(UTC))
    if annotation is str:
        if "pattern" in c:
            return st.from_regex(c["pattern"], fullmatch=True)
        return st.text(min_size=c.get("min_length", 0), max_size=min(c.get("max_length", 40), 40))
    raise TypeError(f"no strategy for {annotation!r}; extend strategy_for")


def _valid_or_none(model: type[BaseModel], data: dict) -> BaseModel | None:
    try:
        return model.model_validate(data)
    except ValidationError:
        return None  # cross-field rules (e.g. period order) reject some combinations


def model_strategy(model: type[BaseModel]) -> st.SearchStrategy:
    fields = model.model_fields.items()
    required = {n: strategy_for(f.annotation, f.metadata) for n, f in fields if f.is_required()}
    optional = {n: strategy_for(f.annotation, f.metadata) for n, f in fields if not f.is_required()}
    dicts = st.fixed_dictionaries(required, optional=optional)
    return dicts.map(lambda d: _valid_or_none(model, d)).filter(lambda m: m is not None)


def committed_schema(event_type: str, version: int) -> dict:
    return json.loads((SCHEMAS_DIR / schema_path(event_type, version)).read_text(encoding="utf-8"))


KEYS = sorted(EVENT_TYPES)


@pytest.mark.parametrize("key", KEYS, ids=lambda k: f"{k[0]}.v{k[1]}")
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(data=st.data())
def test_samples_of_every_event_validate_against_the_committed_schema(key, data):
    model = EVENT_TYPES[key]
    event = data.draw(model_strategy(model))
    if getattr(model, "sealed_fields", ()) and not event.is_sealed:  # on the wire only the sealed form travels
        event = event.seal(os.urandom(32), "key-1", "client-1")
    wire = json.loads(event.model_dump_json())
    if model.tombstone:  # on the wire the value is null; the fields stay in the store
        wire = json.loads(Envelope.wrap(event, source="/kim/referrals", actor=None, correlation_id=None,
                                        causation_id=None).kafka_value() or b"null")
        assert wire is None
    validator = Draft202012Validator(committed_schema(*key), format_checker=Draft202012Validator.FORMAT_CHECKER)
    errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(wire)]
    assert not errors, errors
    if not model.tombstone:
        assert model.model_validate(wire) == event  # and the wire form reads back unchanged


def test_the_schemas_are_valid_draft_2020_12_and_reject_bad_data():
    for key in KEYS:
        schema = committed_schema(*key)
        Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    validator = Draft202012Validator(committed_schema("kim.cases.CaseClosed", 1))
    good = {"case_id": "c-1", "reason": "wegzug", "closed_on": "2025-02-01", "goals_agreed": 3,
            "goals_achieved": 1, "duration_days": 200}
    assert validator.is_valid(good)
    assert not validator.is_valid({**good, "reason": "unknown"})
    assert not validator.is_valid({**good, "name": "Amina"})
    assert not validator.is_valid({k: v for k, v in good.items() if k != "case_id"})


def test_schema_folder_holds_exactly_the_registered_versions():
    on_disk = {p.relative_to(SCHEMAS_DIR).as_posix() for p in Path(SCHEMAS_DIR, "json").glob("*/v*.json")}
    assert on_disk == {schema_path(t, v) for t, v in KEYS}
