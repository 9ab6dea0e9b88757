"""What each Kafka header of a KIM Hub record means (CloudEvents 1.0, Kafka binding, binary mode)."""

from __future__ import annotations

from typing import Any

from kim_runtime.envelope import CONTENT_TYPE, HEADER_NAMES, REQUIRED_HEADERS, SPECVERSION

AGS_PATTERN = r"^[0-9]{8}$"

CLOUDEVENTS_HEADERS: dict[str, str] = {
    "ce_id": "Unique id of the event (UUID). Use it to drop duplicates: delivery is at least once.",
    "ce_type": "Event type, e.g. kim.cases.CaseOpened; together with ce_schemaversion it names the JSON Schema.",
    "ce_source": "Producing service, e.g. /kim/cases.",
    "ce_specversion": "CloudEvents version, always 1.0.",
    "ce_time": "When the event happened (occurred-at), ISO 8601 with offset.",
    "ce_subject": "Pseudonymous id of the person concerned. Service topics only since contract 4.0.0: partner "
                  "records carry none (the partner's own pseudonym is inside the sealed snapshot).",
    "ce_correlationid": "Id shared by all events that stem from one user action (on a partner topic: that "
                        "partner's own id for the action, different on every other topic).",
    "ce_causationid": "ce_id of the event or command that caused this one (on a partner topic: derived for that "
                      "partner, so it matches no id on another topic).",
    "ce_actor": "Who did it: pseudonymous staff id or service name.",
    "ce_municipality": "AGS (8 digits) of the municipality the event belongs to. Service topics only, never on a "
                       "partner topic (it would help two partners link their pseudonyms of one client).",
    "ce_schemaversion": "Version of the event type's schema; the value follows schemas/json/<type>/v<N>.json.",
    "ce_streamversion": "Position of the event within its stream (1, 2, 3, ...), for ordering and gaps.",
    "ce_keyid": "Id of the per-client key that encrypts personal data inside; absent when there is none.",
    "ce_traceparent": "W3C trace context (CloudEvents distributed-tracing extension) of the span that published the "
                      "event: consumers continue the trace from it. Never on a partner topic.",
    "ce_dataschema": "CloudEvents dataschema (partner topics): the URL of the JSON Schema of this event's type and "
                     "version, served by the referrals service's partner API (GET /partner/schemas/<ce_type>/"
                     "<ce_schemaversion>, with your partner token).",
    "content-type": "Media type of the value, always application/json.",
}

# Written by the publishing library (FastStream) on the service topics' records, besides the CloudEvents
# attributes; never on a partner topic (the relay publishes those records with exactly the headers above).
LIBRARY_HEADERS: dict[str, str] = {
    "correlation_id": "Service topics only, never on a partner topic: FastStream's own correlation header, the same "
                      "value as ce_correlationid. Read ce_correlationid instead.",
}

DLQ_HEADERS: dict[str, str] = {
    "dlq_error": "Why the record could not be handled: exception type and message.",
    "dlq_topic": "Topic the record was read from.",
    "dlq_partition": "Partition it was read from.",
    "dlq_offset": "Offset it had there.",
    "dlq_consumer": "The consumer (handler) that gave up on it.",
    "dlq_attempts": "How many times handling was tried (optional).",
}
DLQ_REQUIRED = ("dlq_error", "dlq_topic", "dlq_partition", "dlq_offset", "dlq_consumer")


def _check_coverage() -> None:
    documented, sent = set(CLOUDEVENTS_HEADERS), set(HEADER_NAMES.values()) | {"content-type"}
    if documented != sent:
        raise RuntimeError(
            f"kim_runtime.envelope.HEADER_NAMES and kim_schemas/headers.py disagree: undocumented "
            f"{sorted(sent - documented)}, no longer sent {sorted(documented - sent)}; update CLOUDEVENTS_HEADERS"
        )


def cloudevents_headers_schema() -> dict[str, Any]:
    """JSON Schema of the headers every KIM Hub event record carries."""
    _check_coverage()
    props: dict[str, Any] = {name: {"type": "string", "description": d}
                             for name, d in (CLOUDEVENTS_HEADERS | LIBRARY_HEADERS).items()}
    props["ce_specversion"]["const"] = SPECVERSION
    props["content-type"]["const"] = CONTENT_TYPE
    props["ce_time"]["format"] = "date-time"
    props["ce_municipality"]["pattern"] = AGS_PATTERN
    props["ce_streamversion"]["pattern"] = r"^[0-9]+$"
    props["ce_schemaversion"]["pattern"] = r"^[1-9][0-9]*$"
    required = [*REQUIRED_HEADERS, "ce_schemaversion", "ce_streamversion", "content-type"]
    return {"type": "object", "required": required, "properties": props}


def message_headers_schema(base_ref: str, event_type: str, version: int, source: str) -> dict[str, Any]:
    """The common headers, with type, version and source fixed for one message."""
    fixed = {"ce_type": event_type, "ce_schemaversion": str(version), "ce_source": source}
    return {"allOf": [{"$ref": base_ref}, {"properties": {h: {"const": v} for h, v in fixed.items()}}]}


def dead_letter_headers_schema() -> dict[str, Any]:
    """Headers of a dead-lettered record: the original ones (as far as present) plus the dlq_* ones."""
    schema = cloudevents_headers_schema()
    for name, description in DLQ_HEADERS.items():
        schema["properties"][name] = {"type": "string", "description": description}
    schema["required"] = list(DLQ_REQUIRED)
    return schema
