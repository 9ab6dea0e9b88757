"""Wire envelopes for this service's events (CloudEvents metadata around a kim_schemas model)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from kim_runtime.envelope import Envelope
from kim_schemas.base import Event

SOURCE = "/kim/referrals"
SERVICE_ACTOR = "kim-referrals"


@dataclass(frozen=True)
class Context:
    """Who asked, and why: the metadata every event of one command (or consumed event) shares."""

    actor: str
    correlation_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    causation_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    municipality: str | None = None


def envelope(event: Event, ctx: Context, *, subject: str | None, actor: str | None = None) -> Envelope:
    return Envelope.wrap(event, source=SOURCE, actor=actor or ctx.actor, correlation_id=ctx.correlation_id,
                         causation_id=ctx.causation_id, subject=subject, municipality=ctx.municipality)
