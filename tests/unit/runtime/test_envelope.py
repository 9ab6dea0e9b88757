"""The CloudEvents binary-mode binding: what goes out comes back, and bad records say what is wrong."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kim_runtime.envelope import HEADER_NAMES, Envelope, EnvelopeError

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)


def sample(**over) -> Envelope:
    base = dict(
        type="kim.cases.CaseOpened", source="/kim/cases", stream_id="case-1", subject="cl-7f3a",
        correlation_id="corr-1", causation_id="cmd-1", actor="cm-12", municipality="05978024",
        schema_version=2, stream_version=4, key_id="key-9", data={"case_id": "case-1", "ä": "ü"},
        traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        dataschema="https://kim.example/partner/schemas/kim.cases.CaseOpened/2",
        time=datetime(2026, 3, 1, 12, 30, tzinfo=UTC),
    )
    return Envelope(**(base | over))


def as_record(env: Envelope):
    return env.kafka_key(), env.kafka_value(), [(k, v.encode()) for k, v in env.kafka_headers().items()]


def test_binary_mode_headers_carry_every_attribute():
    headers = sample().kafka_headers()
    assert headers["ce_specversion"] == "1.0"
    assert headers["ce_type"] == "kim.cases.CaseOpened"
    assert headers["ce_municipality"] == "05978024"
    assert headers["content-type"] == "application/json"
    assert set(HEADER_NAMES.values()) <= set(headers)
    assert sample().kafka_key() == b"case-1"


@given(data=st.dictionaries(st.text(max_size=10), json_values, max_size=5))
def test_round_trip_through_a_kafka_record(data):
    env = sample(data=data)
    assert Envelope.from_kafka(*as_record(env)) == env


def test_optional_attributes_are_left_out_when_absent():
    env = sample(subject=None, key_id=None, causation_id=None)
    headers = env.kafka_headers()
    assert "ce_subject" not in headers and "ce_keyid" not in headers
    assert Envelope.from_kafka(*as_record(env)) == env


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda k, v, h: (k, b"{not json", h), "not JSON"),
        (lambda k, v, h: (k, b"[1, 2]", h), "JSON object"),
        (lambda k, v, h: (None, v, h), "no key"),
        (lambda k, v, h: (k, v, [x for x in h if x[0] != "ce_type"]), "ce_type"),
        (lambda k, v, h: (k, v, [(n, b"0.3" if n == "ce_specversion" else x) for n, x in h]), "specversion"),
        (lambda k, v, h: (k, v, [(n, b"yesterday" if n == "ce_time" else x) for n, x in h]), "invalid envelope"),
    ],
)
def test_malformed_records_raise_envelope_error_naming_the_problem(mutate, message):
    with pytest.raises(EnvelopeError, match=message):
        Envelope.from_kafka(*mutate(*as_record(sample())))


def test_a_tombstone_type_goes_out_with_a_null_value_and_reads_back():
    import kim_schemas  # noqa: F401  (registers the tombstone types)
    from kim_runtime.envelope import TOMBSTONE_TYPES

    assert "kim.partner.PartnerReferralTombstone" in TOMBSTONE_TYPES
    env = sample(type="kim.partner.PartnerReferralTombstone", schema_version=1, stream_id="p-1",
                 data={"referral_id": "p-1"})
    key, value, headers = as_record(env)
    assert (key, value) == (b"p-1", None)
    assert dict(headers)["ce_type"] == b"kim.partner.PartnerReferralTombstone"
    assert Envelope.from_kafka(key, value, headers).data == {}  # key and headers only
