"""What schemas/asyncapi.yaml promises: every topic, every message, real envelope headers, the key."""

from __future__ import annotations

import yaml
from jsonschema import Draft202012Validator
from kim_runtime.envelope import Envelope
from kim_runtime.topics import ANCHOR_TOPIC, SERVICES, dead_letter_topic, service_topic

from kim_schemas import EVENT_TYPES
from kim_schemas.asyncapi import message_id
from kim_schemas.generate import SCHEMAS_DIR, topic_of

DOC = yaml.safe_load((SCHEMAS_DIR / "asyncapi.yaml").read_text(encoding="utf-8"))


def validator_for(schema: dict) -> Draft202012Validator:
    """Resolve #/components/... refs against the AsyncAPI document itself."""
    return Draft202012Validator({**schema, "components": DOC["components"]},
                                format_checker=Draft202012Validator.FORMAT_CHECKER)


def test_every_topic_is_a_channel():
    addresses = {c["address"] for c in DOC["channels"].values()}
    expected = {service_topic(s) for s in SERVICES} | {dead_letter_topic(s) for s in SERVICES} | {ANCHOR_TOPIC}
    assert addresses == expected | {"kim.partner.{organisationId}"}
    assert "organisationId" in DOC["channels"]["partner"]["parameters"]


def test_every_event_version_is_a_message_on_its_topic_with_its_key():
    by_address = {c["address"]: c for c in DOC["channels"].values()}
    for (event_type, version), model in EVENT_TYPES.items():
        mid = message_id(event_type, version)
        refs = [m["$ref"] for m in by_address[topic_of(model)]["messages"].values()]
        assert f"#/components/messages/{mid}" in refs
        message = DOC["components"]["messages"][mid]
        assert message["bindings"]["kafka"]["key"]["description"].startswith(model.stream_key)


def test_headers_of_a_real_envelope_satisfy_the_message_headers():
    env = Envelope(type="kim.cases.CaseOpened", source="/kim/cases", stream_id="case-1", stream_version=1,
                   subject="client-1", municipality="05978024", actor="staff-7", correlation_id="corr-1")
    headers = validator_for(DOC["components"]["messages"]["cases.CaseOpened.v1"]["headers"])
    assert not list(headers.iter_errors(env.kafka_headers()))
    wrong_type = env.kafka_headers() | {"ce_type": "kim.cases.CaseClosed"}
    assert not headers.is_valid(wrong_type)
    missing = {k: v for k, v in env.kafka_headers().items() if k != "ce_id"}
    assert not headers.is_valid(missing)


def test_dead_letter_records_need_the_error_headers():
    dlq = DOC["channels"]["dlq_cases"]
    (ref,) = [m["$ref"] for m in dlq["messages"].values()]
    headers = validator_for(DOC["components"]["messages"][ref.rsplit("/", 1)[1]]["headers"])
    error = {"dlq_error": "ValidationError: ...", "dlq_topic": "kim.cases", "dlq_partition": "0",
             "dlq_offset": "42", "dlq_consumer": "reporting.cases"}
    assert headers.is_valid(error)
    assert not headers.is_valid({k: v for k, v in error.items() if k != "dlq_offset"})
