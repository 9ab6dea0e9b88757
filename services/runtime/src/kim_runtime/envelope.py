"""The event envelope and its CloudEvents 1.0 Kafka binding (binary content mode).

On the wire an event is one Kafka record:
- key: the stream (aggregate) id, UTF-8;
- value: the event data as JSON;
- headers: ``ce_id``, ``ce_type``, ``ce_source``, ``ce_specversion``, ``ce_time``, ``ce_subject`` and the
  extension attributes below, plus ``content-type: application/json``.

Extension attributes (CloudEvents names are lower-case letters and digits only):
``ce_correlationid``, ``ce_causationid``, ``ce_actor``, ``ce_municipality``, ``ce_schemaversion``,
``ce_streamversion`` (the event's version within its stream) and, when personal data is inside,
``ce_keyid`` (the id of the per-subject key that encrypts it), ``ce_dataschema`` (CloudEvents ``dataschema``: the
versioned URL of the data's JSON Schema; partner topics), and ``ce_traceparent``: the W3C trace context of the
span that published it (CloudEvents distributed-tracing extension; never on a partner topic, see telemetry.py).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

SPECVERSION = "1.0"
CONTENT_TYPE = "application/json"

# attribute name on the envelope -> Kafka header name
HEADER_NAMES: dict[str, str] = {
    "id": "ce_id",
    "type": "ce_type",
    "source": "ce_source",
    "specversion": "ce_specversion",
    "time": "ce_time",
    "subject": "ce_subject",
    "correlation_id": "ce_correlationid",
    "causation_id": "ce_causationid",
    "actor": "ce_actor",
    "municipality": "ce_municipality",
    "schema_version": "ce_schemaversion",
    "stream_version": "ce_streamversion",
    "key_id": "ce_keyid",
    "traceparent": "ce_traceparent",
    "dataschema": "ce_dataschema",
}
REQUIRED_HEADERS = ("ce_id", "ce_type", "ce_source", "ce_specversion", "ce_time")

# Event types published with a null value: Kafka tombstones on a compacted topic (kim_schemas registers them).
TOMBSTONE_TYPES: set[str] = set()


def register_tombstone(event_type: str) -> None:
    TOMBSTONE_TYPES.add(event_type)


class EnvelopeError(ValueError):
    """A Kafka record that is not a valid KIM Hub CloudEvent; `reason` is a short code for the dead-letter topic."""

    def __init__(self, message: str, *, reason: str = "invalid-envelope"):
        super().__init__(message)
        self.reason = reason


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)


class Envelope(BaseModel):
    """One event with its metadata, as stored and as published."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=new_id, description="Unique event id (UUID)")
    type: str = Field(description="Event type, e.g. kim.cases.CaseOpened")
    source: str = Field(description="Producing service, e.g. /kim/cases")
    specversion: str = SPECVERSION
    time: datetime = Field(default_factory=utcnow, description="When it happened (occurred-at)")
    subject: str | None = Field(default=None, description="Pseudonymous id of the subject (client)")
    stream_id: str = Field(description="Aggregate id; the Kafka key")
    stream_version: int = Field(default=0, ge=0, description="Version of the event within its stream")
    correlation_id: str | None = None
    causation_id: str | None = None
    actor: str | None = Field(default=None, description="Who did it (user or service id)")
    municipality: str | None = Field(default=None, description="AGS code of the municipality")
    schema_version: int = Field(default=1, ge=1)
    key_id: str | None = Field(default=None, description="Per-subject key id when personal data is inside")
    traceparent: str | None = Field(default=None, description="W3C trace context of the action (distributed-tracing "
                                                              "extension); one that is not valid is ignored")
    dataschema: str | None = Field(default=None, description="CloudEvents dataschema: the URL of the data's versioned "
                                                              "JSON Schema (partner topics)")
    data: dict[str, Any] = Field(default_factory=dict)
    event: Any = Field(default=None, exclude=True, repr=False,
                       description="The contract's model of data, set when a consumer read the event (contract.py)")

    @classmethod
    def wrap(
        cls,
        event: Any,
        *,
        source: str,
        actor: str | None,
        correlation_id: str | None,
        causation_id: str | None,
        subject: str | None = None,
        municipality: str | None = None,
        key_id: str | None = None,
    ) -> Envelope:
        """The envelope of a contract event (kim_schemas.base.Event: event_type, schema_version, stream_id())."""
        return cls(
            type=event.event_type, schema_version=event.schema_version, source=source,
            stream_id=event.stream_id(), subject=subject, actor=actor, municipality=municipality,
            correlation_id=correlation_id, causation_id=causation_id, key_id=key_id,
            data=event.model_dump(mode="json"),
        )

    # -- Kafka binding -------------------------------------------------------------------------
    def kafka_key(self) -> bytes:
        return self.stream_id.encode()

    @property
    def is_tombstone(self) -> bool:
        return self.type in TOMBSTONE_TYPES

    def kafka_value(self) -> bytes | None:
        """The data as JSON; None (a tombstone) for a tombstone type, whose fields stay in the store only."""
        if self.is_tombstone:
            return None
        return json.dumps(self.data, separators=(",", ":"), ensure_ascii=False, default=str).encode()

    def kafka_headers(self) -> dict[str, str]:
        headers: dict[str, str] = {"content-type": CONTENT_TYPE}
        for attr, header in HEADER_NAMES.items():
            value = getattr(self, attr)
            if value is None:
                continue
            headers[header] = value.isoformat() if isinstance(value, datetime) else str(value)
        return headers

    @classmethod
    def from_kafka(
        cls, key: bytes | None, value: bytes | None, headers: dict[str, str] | list[tuple[str, bytes]]
    ) -> Envelope:
        """Decode a record; raises EnvelopeError with what is wrong."""
        hdrs = _normalise_headers(headers)
        missing = [h for h in REQUIRED_HEADERS if h not in hdrs]
        if missing:
            raise EnvelopeError(f"missing CloudEvents header(s): {', '.join(missing)}", reason="missing-header")
        if hdrs["ce_specversion"] != SPECVERSION:
            raise EnvelopeError(f"unsupported ce_specversion {hdrs['ce_specversion']!r}", reason="invalid-header")
        if not key:
            raise EnvelopeError("record has no key (the stream id)", reason="missing-key")
        if value is None and hdrs["ce_type"] in TOMBSTONE_TYPES:
            value = b"{}"  # a tombstone: key and headers only
        try:
            data = json.loads(value or b"null")
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise EnvelopeError(f"value is not JSON: {exc}", reason="not-json") from exc
        if not isinstance(data, dict):
            raise EnvelopeError("value must be a JSON object", reason="not-json")
        fields: dict[str, Any] = {
            attr: hdrs[header] for attr, header in HEADER_NAMES.items() if header in hdrs
        }
        try:
            stream_id = key.decode()
        except UnicodeDecodeError as exc:
            raise EnvelopeError("record key is not UTF-8", reason="invalid-key") from exc
        try:
            return cls(stream_id=stream_id, data=data, **fields)
        except Exception as exc:  # pydantic.ValidationError
            raise EnvelopeError(f"invalid envelope: {exc}", reason="invalid-header") from exc


def _normalise_headers(headers: dict[str, str] | list[tuple[str, bytes]] | tuple) -> dict[str, str]:
    if isinstance(headers, dict):
        return {k: v.decode() if isinstance(v, bytes) else str(v) for k, v in headers.items()}
    out: dict[str, str] = {}
    for k, v in headers or ():
        try:
            out[k] = v.decode() if isinstance(v, bytes) else str(v)
        except UnicodeDecodeError as exc:
            raise EnvelopeError(f"header {k} is not UTF-8", reason="header-not-utf8") from exc
    return out
