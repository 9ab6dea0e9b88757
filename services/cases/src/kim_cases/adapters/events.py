"""Domain events ↔ envelopes: the metadata every event of this service carries, and parsing stored ones back."""

from __future__ import annotations

from collections.abc import Iterable

from kim_runtime.commands import CommandContext
from kim_runtime.envelope import Envelope
from kim_schemas import parse
from kim_schemas.base import Event
from kim_schemas.types import Encrypted

SOURCE = "/kim/cases"


__all__ = ["SOURCE", "CommandContext", "event_municipality", "from_envelope", "key_id", "to_envelope", "to_envelopes"]


def event_municipality(default: str | None):
    """The municipality an event's envelope carries: its own (CaseOpened, CaseTransferred), else the case's."""
    return lambda event: getattr(event, "municipality", None) or default


def to_envelope(event: Event, ctx: CommandContext, *, subject: str | None, municipality: str | None) -> Envelope:
    return ctx.wrap(event, source=SOURCE, subject=subject, municipality=event_municipality(municipality)(event),
                    key_id=key_id(event))


def to_envelopes(events: Iterable[Event], ctx: CommandContext, *, subject: str | None,
                 municipality: str | None) -> list[Envelope]:
    return [to_envelope(e, ctx, subject=subject, municipality=municipality) for e in events]


def from_envelope(envelope: Envelope) -> Event:
    return parse(envelope.type, envelope.schema_version, envelope.data)


def key_id(event: Event) -> str | None:
    """The data key the event's encrypted fields use, if any."""
    for name in type(event).model_fields:
        value = getattr(event, name)
        if isinstance(value, Encrypted):
            return value.key_id
    return None
