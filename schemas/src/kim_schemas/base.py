"""The base of every event and the registry of event types and versions.

An event model is the ``data`` part of a KIM Hub CloudEvent (the Kafka record's value). Its type and
version travel in the headers ``ce_type`` and ``ce_schemaversion``; the field named by ``stream_key`` is
the stream id and the Kafka key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from kim_runtime.envelope import register_tombstone
from kim_runtime.upcasting import DEFAULT_CHAIN, UpcasterChain
from pydantic import BaseModel, ConfigDict


class Event(BaseModel):
    """Base of all event payloads: unknown fields are rejected, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_type: ClassVar[str]
    schema_version: ClassVar[int] = 1
    stream_key: ClassVar[str]
    tombstone: ClassVar[bool] = False  # published with a null value (a Kafka tombstone); the fields stay internal

    def stream_id(self) -> str:
        """The id of the stream this event belongs to (the Kafka key)."""
        return str(getattr(self, self.stream_key))

    @classmethod
    def service(cls) -> str:
        """The second part of the type name: cases, staffing, referrals, reporting or partner."""
        return cls.event_type.split(".")[1]


E = TypeVar("E", bound=type[Event])


class UnknownEventType(LookupError):
    """An event type or version the contract does not define."""


class EventRegistry:
    """All event models by (event type, schema version), plus the upcasters that connect the versions."""

    def __init__(self, upcasters: UpcasterChain | None = None) -> None:
        self.types: dict[tuple[str, int], type[Event]] = {}
        self.upcasters = upcasters if upcasters is not None else UpcasterChain()

    def add(self, model: E) -> E:
        key = (model.event_type, model.schema_version)
        if key in self.types and self.types[key] is not model:
            raise ValueError(f"{key[0]} v{key[1]} is defined twice")
        if model.stream_key not in model.model_fields:
            raise ValueError(f"{model.__name__}: stream key {model.stream_key!r} is not a field")
        self.types[key] = model
        return model

    def latest(self, event_type: str) -> type[Event]:
        versions = [v for (t, v) in self.types if t == event_type]
        if not versions:
            raise UnknownEventType(f"unknown event type {event_type!r}")
        return self.types[(event_type, max(versions))]

    def parse(self, event_type: str, version: int, data: dict[str, Any]) -> Event:
        """Validate stored data of any known version, upcast to and returned as the newest version."""
        if (event_type, version) not in self.types:
            raise UnknownEventType(f"unknown event {event_type!r} version {version}")
        newest = self.latest(event_type)
        reached, data = self.upcasters.upcast(event_type, version, data)
        if reached != newest.schema_version:
            raise UnknownEventType(
                f"{event_type}: no upcaster from v{reached} to v{newest.schema_version}; register one"
            )
        return newest.model_validate(data)


REGISTRY = EventRegistry(DEFAULT_CHAIN)
EVENT_TYPES = REGISTRY.types


def event(event_type: str, *, key: str, version: int = 1, tombstone: bool = False,
          registry: EventRegistry = REGISTRY) -> Callable[[E], E]:
    """Class decorator: name an event model, give its stream key and version, and register it. A `tombstone`
    event goes on the wire with a null value (its key and headers only)."""

    def decorate(model: E) -> E:
        model.event_type = event_type
        model.schema_version = version
        model.stream_key = key
        model.tombstone = tombstone
        if tombstone:
            register_tombstone(event_type)
        return registry.add(model)

    return decorate


def latest(event_type: str) -> type[Event]:
    """The newest model of ``event_type``."""
    return REGISTRY.latest(event_type)


def parse(event_type: str, version: int, data: dict[str, Any]) -> Event:
    """Read stored event data of any version as the newest model (upcasting on the way)."""
    return REGISTRY.parse(event_type, version, data)
