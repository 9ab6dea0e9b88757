"""Wire envelopes for the events this service publishes (kim.reporting)."""

from __future__ import annotations

from kim_runtime.auth import Principal
from kim_runtime.envelope import Envelope, new_id
from kim_schemas import Event

SOURCE = "/kim/reporting"


def envelope(model: Event, principal: Principal, *, correlation_id: str | None, causation_id: str | None,
             municipality: str | None = None) -> Envelope:
    return Envelope.wrap(model, source=SOURCE, actor=principal.sub, correlation_id=correlation_id or new_id(),
                         causation_id=causation_id, municipality=municipality or principal.municipality)
