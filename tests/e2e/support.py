"""Helpers of the e2e tier: an HTTP caller per role, polling with a deadline, reading a topic with plain aiokafka."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from kim_cli.processes import topic_partitions
from kim_runtime.auth import Principal, issue_token


class Caller:
    """Sends requests to the services as one principal; `expect` fails the test with the service's answer."""

    def __init__(self, http: httpx.AsyncClient, urls: dict[str, str], secret: str, who: Principal):
        self.http, self.urls = http, urls
        self.headers = {"Authorization": f"Bearer {issue_token(secret, who)}"}

    async def request(self, method: str, service: str, path: str, body: dict | None = None) -> httpx.Response:
        return await self.http.request(method, self.urls[service] + path, json=body, headers=self.headers)

    async def expect(self, status: int, method: str, service: str, path: str, body: dict | None = None) -> Any:
        r = await self.request(method, service, path, body)
        assert r.status_code == status, f"{method} {service}{path}: {r.status_code} {r.text}"
        return r.json()


async def eventually(probe: Callable[[], Awaitable[Any]], *, timeout_s: float = 30, what: str = "") -> Any:
    """Poll probe until it returns something truthy; fail with `what` after timeout_s."""
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {timeout_s} s: {what} (last answer: {last!r})")


async def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    """Current end offset per partition ({} when the topic does not exist yet)."""
    parts = await topic_partitions(bootstrap, [topic])
    if not parts:
        return {}
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        return {tp.partition: off for tp, off in (await consumer.end_offsets(parts)).items()}
    finally:
        await consumer.stop()


async def read_topic(bootstrap: str, topic: str, start: dict[int, int] | None = None) -> list:
    """Every record of the topic from `start` (default: the beginning) up to its current end."""
    parts = await topic_partitions(bootstrap, [topic])
    if not parts:
        return []
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(parts)
        ends = await consumer.end_offsets(parts)
        for tp in parts:
            consumer.seek(tp, (start or {}).get(tp.partition, 0))
        records, pending = [], {tp for tp in parts if ends[tp] > (start or {}).get(tp.partition, 0)}
        while pending:
            for tp, batch in (await consumer.getmany(*pending, timeout_ms=500)).items():
                records.extend(r for r in batch if r.offset < ends[tp])
                if batch and batch[-1].offset >= ends[tp] - 1:
                    pending.discard(tp)
        return records
    finally:
        await consumer.stop()


def record_text(record) -> str:
    """Key, headers and value of a record as one string, for 'does this name appear anywhere' checks."""
    parts = [record.key or b"", record.value or b""] + [k.encode() + b"=" + (v or b"") for k, v in record.headers]
    return b" ".join(parts).decode(errors="replace")
