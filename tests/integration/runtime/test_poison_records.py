"""Strict decoding on the real broker: every kind of record the contract does not know is parked with its reason.

All records share one partition, and a good event follows them: it is handled, so no bad record stopped the
partition, and none was skipped without a trace (FastStream's own parser would raise on a non-UTF-8 header before
the runtime's code ran, and the offset would move on without a dead letter).
"""

from __future__ import annotations

import json

import pytest
from prometheus_client import REGISTRY

from .harness import Counted, Harness, Recorder, event, eventually, raw_producer, unique
from .test_outbox_to_consumer import _read_all, _when

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def _headers(**changes: str | bytes | None) -> list[tuple[str, bytes]]:
    """Headers of a valid kim.test.Counted event, with some changed (bytes as they are) or removed (None)."""
    headers: dict[str, str | bytes | None] = {**event("s1", 0).kafka_headers(), **changes}
    return [(k, v if isinstance(v, bytes) else v.encode()) for k, v in headers.items() if v is not None]


GOOD = json.dumps({"n": 7}).encode()
# reason -> (key, value, headers) of a record the runtime must park
POISON = {
    "not-json": (b"s1", b"{definitely not json", _headers()),
    "missing-header": (b"s1", GOOD, []),
    "unknown-type": (b"s1", GOOD, _headers(ce_type="kim.test.NobodyKnowsMe")),
    "unknown-version": (b"s1", GOOD, _headers(ce_schemaversion="99")),
    "header-not-utf8": (b"s1", GOOD, _headers(ce_actor=b"\xff\xfe not utf-8")),
    "missing-key": (None, GOOD, _headers()),
    "invalid-data": (b"s1", json.dumps({"n": "seven"}).encode(), _headers()),
    "900 KB value": (b"s1", json.dumps({"n": "7" * 900_000}).encode(), _headers()),  # parked whole, not cut
}
REASON = {"900 KB value": "invalid-data"}  # the dead-letter reason of each record, where it is not its name


class CountedOnly(Recorder):
    event_types = (Counted,)


def _sample(name: str, **labels) -> float | None:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _ignored(service: str, consumer: str, event_type: str) -> float:
    labels = {"service": service, "consumer": consumer, "type": event_type}
    return REGISTRY.get_sample_value("kim_consumer_events_ignored_total", labels) or 0.0


async def test_each_poison_record_lands_in_the_dead_letter_topic_with_its_reason_and_the_next_event_is_handled(
    fresh_db, kafka_bootstrap
):
    topic, dlq = unique("kim.test"), unique("kim.dlq")
    ignored_before = _ignored("test", "recorder", "kim.test.Noted")
    handled_before = _sample("kim_consumer_events_handled_total", service="test", consumer="recorder")
    async with Harness(fresh_db, kafka_bootstrap, topic, dlq) as h:
        h.consumers.add(CountedOnly(topic))
        await h.start(relay=False)
        sent = {}
        async with raw_producer(kafka_bootstrap) as producer:
            for reason, (key, value, headers) in POISON.items():
                meta = await producer.send_and_wait(topic, value, key=key, headers=headers, partition=0)
                sent[reason] = meta.offset
            await producer.send_and_wait(topic, GOOD, key=b"s1", partition=0,
                                         headers=_headers(ce_type="kim.test.Noted"))
            good = event("s1", 1)  # with a trace context that is not one: W3C says ignore it, so it is handled
            await producer.send_and_wait(topic, good.kafka_value(), key=b"s1", partition=0,
                                         headers=[(k, v.encode()) for k, v in good.kafka_headers().items()]
                                         + [("ce_traceparent", b"00-not-a-trace-context")])

        rows = await eventually(lambda: _when(h.effects(), lambda r: len(r) >= 1))
        assert [r["n"] for r in rows] == [1]
        assert _sample("kim_consumer_events_handled_total", service="test", consumer="recorder") == handled_before + 1
        lag = {"service": "test", "consumer": "recorder", "topic": topic, "partition": "0"}

        async def caught_up() -> bool:  # set once the record is committed; none left after it on the partition
            return REGISTRY.get_sample_value("kim_consumer_lag", lag) == 0.0

        assert await eventually(caught_up)
        parked = await _read_all(kafka_bootstrap, dlq, len(POISON))
        by_offset = {int(dict(m.headers)["dlq_offset"]): dict(m.headers) for m in parked}
        assert {reason: by_offset[offset]["dlq_reason"].decode() for reason, offset in sent.items()} == {
            reason: REASON.get(reason, reason) for reason in POISON}
        big = next(m for m in parked if int(dict(m.headers)["dlq_offset"]) == sent["900 KB value"])
        assert big.value == POISON["900 KB value"][1]  # the original value, byte for byte
        for reason, offset in sent.items():
            headers = by_offset[offset]
            assert headers["dlq_topic"].decode() == topic and headers["dlq_consumer"] == b"recorder"
            assert headers["dlq_error"], reason
        assert len(parked) == len(POISON), "a record was parked twice, or a valid one was parked"
        assert _ignored("test", "recorder", "kim.test.Noted") == ignored_before + 1
