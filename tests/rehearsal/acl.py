"""What the broker lets a SCRAM user do, asked as that user with plain aiokafka clients.

- read: a consumer in the given group, assigned partition 0 of the topic, fetches and asks its committed offset
  (Describe + Read on the topic, Describe/Read on the group);
- write: a producer sends one record larger than the broker's message.max.bytes. The broker checks the ACL before
  it looks at the size: a user it refuses gets TopicAuthorizationFailed, a user it allows gets MessageSizeTooLarge,
  and nothing is ever written (the services consume the topics: a probe record must not reach them).

Each probe answers "allowed" or "refused (<error class>)"; anything else (a timeout, another error) fails the test.
"""

from __future__ import annotations

import asyncio
import ssl

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka import errors as kafka_errors

from kim_cli.partner_kafka import scram

REFUSALS = (kafka_errors.TopicAuthorizationFailedError, kafka_errors.GroupAuthorizationFailedError)
TOO_LARGE = (kafka_errors.MessageSizeTooLargeError, kafka_errors.RecordListTooLargeError,
             kafka_errors.RecordTooLargeError)
PROBE_BYTES = 1_100_000  # the broker's default message.max.bytes is 1,048,588

SEEN: list[tuple[str, str, str, str]] = []  # (user, action, resource, outcome) in the order the tests saw them


def _refused(exc: BaseException) -> str:
    return f"refused ({type(exc).__name__})"


def login(user: str, password: str, tls: ssl.SSLContext | None) -> dict:
    """SCRAM over SASL_PLAINTEXT, or over SASL_SSL (the partners' listener) with the CA's context."""
    if tls is None:
        return scram(user, password)
    return scram(user, password, security_protocol="SASL_SSL", ssl_context=tls)


async def read(bootstrap: str, user: str, password: str, topic: str, group: str, *,
               timeout_s: float = 20, every_partition: bool = False,
               tls: ssl.SSLContext | None = None) -> tuple[str, list]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                                auto_offset_reset="earliest", request_timeout_ms=10_000,
                                **login(user, password, tls))
    records: list = []
    try:
        await consumer.start()
        async def probe() -> None:
            topics = await consumer.topics()  # metadata: a topic the user may not describe is not listed
            if topic not in topics:
                raise kafka_errors.TopicAuthorizationFailedError(topic)
            # (the consumer knows the partitions only of topics it subscribed to: ask the cluster's metadata)
            numbers = sorted((await consumer._client.fetch_all_metadata()).partitions_for_topic(topic)) \
                if every_partition else [0]
            parts = [TopicPartition(topic, n) for n in numbers]
            consumer.assign(parts)
            await consumer.committed(parts[0])  # OffsetFetch: the group
            if not every_partition:  # a probe: the first fetch answers whether the user may read
                for _ in range(3):
                    batch = await consumer.getmany(*parts, timeout_ms=300)
                    for got in batch.values():
                        records.extend(got)
                return
            ends = await consumer.end_offsets(parts)  # everything up to now, however slow the machine
            for tp in parts:
                consumer.seek(tp, 0)
            while any([await consumer.position(tp) < ends[tp] for tp in parts]):
                batch = await consumer.getmany(*parts, timeout_ms=500)
                for got in batch.values():
                    records.extend(got)

        await asyncio.wait_for(probe(), timeout_s)
        outcome = "allowed"
    except REFUSALS as exc:
        outcome = _refused(exc)
    finally:
        await consumer.stop()
    SEEN.append((user, f"read (group {group})", topic, outcome))
    return outcome, records


async def write(bootstrap: str, user: str, password: str, topic: str, *, timeout_s: float = 20,
                tls: ssl.SSLContext | None = None) -> str:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, max_request_size=3_000_000,
                                request_timeout_ms=10_000, **login(user, password, tls))
    await producer.start()
    try:
        await asyncio.wait_for(producer.send_and_wait(topic, b"x" * PROBE_BYTES, partition=0), timeout_s)
        outcome = "WRITTEN"  # must never happen: the record is larger than the broker accepts
    except TOO_LARGE:
        outcome = "allowed"
    except REFUSALS as exc:
        outcome = _refused(exc)
    finally:
        await producer.stop()
    SEEN.append((user, "write", topic, outcome))
    return outcome
