"""Handlers chosen by event class (a contract's models, e.g. kim_schemas.cases.CaseOpened), never by a type string
written out: `by_type({CaseOpened: opened, CaseClosed: closed})` is the {event type: handler} map a projection or a
consumer looks an envelope's `type` up in, `types_of(CaseOpened, CaseClosed)` the set of type names of some classes. A
consumer's `event_types` (kim_runtime.consumer.Handler, Projection) are event classes; the runner reads them with
`accepted`. A renamed or removed event class then fails at import, not silently at run time."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

V = TypeVar("V")


def type_of(event_class: Any) -> str:
    """The event type (CloudEvents `type`) a contract event class declares."""
    return event_class.event_type


def types_of(*event_classes: Any) -> frozenset[str]:
    return frozenset(type_of(c) for c in event_classes)


def by_type(handlers: Mapping[Any, V]) -> dict[str, V]:
    """{event class: handler} as {event type: handler}, in the same order."""
    return {type_of(c): h for c, h in handlers.items()}


def accepted(event_types: Iterable[Any] | None) -> frozenset[str] | None:
    """The type names a consumer takes, from its `event_types`, which are event classes; None: every type. A type
    name in their place is refused (TypeError): names are derived here, from classes, and nowhere else."""
    if event_types is None:
        return None
    names = [t for t in event_types if isinstance(t, str)]
    if isinstance(event_types, str) or names:
        raise TypeError(f"event_types are event classes, not type names: {names or event_types!r}")
    return types_of(*event_types)
