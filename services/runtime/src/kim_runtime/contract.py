"""The event contract as consumers see it: every record is read through the contract's models, or not at all.

A contract knows each event type and schema version (kim_schemas.REGISTRY is the default one). `validate` turns a decoded
envelope into one whose data the newest model of its type has checked (upcasting older schema versions on the way)
and whose `event` is that model. A type or schema version the contract does not know, or data its model refuses, raises
EnvelopeError with a reason: the consumer parks the record in its dead-letter topic instead of guessing.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any, Protocol

import pydantic

from .envelope import Envelope, EnvelopeError


class Contract(Protocol):
    """What the runtime needs of an event contract (kim_schemas.EventRegistry has it)."""

    def latest(self, event_type: str) -> type[pydantic.BaseModel]:
        """The newest model of the type; raises LookupError for a type the contract does not know."""

    def parse(self, event_type: str, schema_version: int, data: dict[str, Any]) -> pydantic.BaseModel:
        """Data of any known schema version as the newest model; LookupError when unknown, ValidationError when
        invalid."""


ENTRY_POINT_GROUP = "kim_runtime.contract"
_default: Contract | None = None


def default_contract() -> Contract:
    """The installed event contract: the object a package names under the entry point group `kim_runtime.contract`
    (kim_schemas names its REGISTRY). The runtime never imports the contract package by name: kim_schemas depends on
    the runtime, not the other way round. LookupError when no contract is installed (pass one: FixedContract)."""
    global _default
    if _default is None:
        found = sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name)
        if not found:
            raise LookupError(f"no event contract is installed (entry point group {ENTRY_POINT_GROUP}): install "
                              "kim-schemas, or give the consumer a contract")
        _default = found[0].load()
    return _default


_VERSIONS: dict[type, int | None] = {}


def _schema_version(model: type) -> int | None:
    """The schema version a contract model declares (kim_schemas events: a class variable), None for one without
    (OpenData, a test's model). Looked up once per model: asking a pydantic model for an attribute it lacks raises
    inside pydantic, and that was a quarter of `kim bench replay`'s time (issue 18 profile)."""
    if model not in _VERSIONS:
        _VERSIONS[model] = next((c.__dict__["schema_version"] for c in model.__mro__ if "schema_version" in c.__dict__),
                                None)
    return _VERSIONS[model]


def validate(env: Envelope, contract: Contract) -> Envelope:
    """The envelope with its data read through the contract's newest model of its type; raises EnvelopeError."""
    try:
        newest = contract.latest(env.type)
    except LookupError:
        raise EnvelopeError(f"event type {env.type!r} is not in the contract", reason="unknown-type") from None
    try:
        event = contract.parse(env.type, env.schema_version, env.data)
    except LookupError as exc:
        raise EnvelopeError(f"{env.type} v{env.schema_version} is not in the contract (newest: "
                            f"v{getattr(newest, 'schema_version', '?')}): {exc}", reason="unknown-version") from None
    except pydantic.ValidationError as exc:
        raise EnvelopeError(f"data of {env.type} v{env.schema_version} fails the contract's model: {exc}",
                            reason="invalid-data") from None
    except Exception as exc:  # an upcaster that cannot read this data
        raise EnvelopeError(f"cannot upcast {env.type} v{env.schema_version}: {type(exc).__name__}: {exc}",
                            reason="invalid-data") from None
    version = _schema_version(type(event)) or env.schema_version
    return env.model_copy(update={"schema_version": version, "data": event.model_dump(mode="json"), "event": event})


class OpenData(pydantic.BaseModel):
    """Any JSON object: the model of a FixedContract type that checks nothing but the envelope."""

    model_config = pydantic.ConfigDict(extra="allow", frozen=True)


class FixedContract:
    """A contract of a few types, each at schema version 1 only, for benchmarks and tests that publish their own
    events."""

    def __init__(self, models: dict[str, type[pydantic.BaseModel]]):
        self.models = dict(models)

    def latest(self, event_type: str) -> type[pydantic.BaseModel]:
        return self.models[event_type]  # KeyError is a LookupError

    def parse(self, event_type: str, schema_version: int, data: dict[str, Any]) -> pydantic.BaseModel:
        if schema_version != 1:
            raise LookupError(f"{event_type} has schema version 1 only")
        return self.latest(event_type).model_validate(data)
