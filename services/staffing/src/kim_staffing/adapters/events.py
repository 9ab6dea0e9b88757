"""Event models -> envelopes for the store, with the metadata every KIM Hub event carries."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from kim_runtime.envelope import Envelope
from kim_schemas.base import Event

SOURCE = "/kim/staffing"


@dataclass(frozen=True)
class Context:
    """Who asks, and which request or event this follows from."""

    actor: str
    correlation_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    causation_id: str = field(default_factory=lambda: str(uuid.uuid4()))  # the command's id


def envelope(event: Event, ctx: Context, *, municipality: str | None = None, subject: str | None = None) -> Envelope:
    return Envelope.wrap(event, source=SOURCE, actor=ctx.actor, correlation_id=ctx.correlation_id,
                         causation_id=ctx.causation_id, subject=subject, municipality=municipality)
