"""Domain events ↔ envelopes: the metadata every event of this service carries, and parsing stored ones back."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from kim_runtime.auth import Principal
from kim_runtime.envelope import Envelope, new_id
from kim_schemas import parse
from kim_schemas.base import Event
from kim_schemas.types import Encrypted

SOURCE = "/kim/cases"


@dataclass(frozen=True)
class CommandContext:
    """Who asks, and the ids that tie the resulting events to the request (correlation) and command (causation)."""

    principal: Principal
    correlation_id: str = field(default_factory=new_id)
    command_id: str = field(default_factory=new_id)


def to_envelope(event: Event, ctx: CommandContext, *, subject: str | None, municipality: str | None) -> Envelope:
    return Envelope.wrap(
        event, source=SOURCE, actor=ctx.principal.sub, correlation_id=ctx.correlation_id,
        causation_id=ctx.command_id, subject=subject,
        municipality=getattr(event, "municipality", None) or municipality, key_id=_key_id(event),
    )


def to_envelopes(events: Iterable[Event], ctx: CommandContext, *, subject: str | None,
                 municipality: str | None) -> list[Envelope]:
    return [to_envelope(e, ctx, subject=subject, municipality=municipality) for e in events]


def from_envelope(envelope: Envelope) -> Event:
    return parse(envelope.type, envelope.schema_version, envelope.data)


def _key_id(event: Event) -> str | None:
    for name in type(event).model_fields:
        value = getattr(event, name)
        if isinstance(value, Encrypted):
            return value.key_id
    return None
