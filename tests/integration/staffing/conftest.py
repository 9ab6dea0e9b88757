"""The staffing service in-process on the real stack, a client per role, and a producer of cases events."""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, date, datetime

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import OffsetAndMetadata
from kim_runtime.auth import Principal, Role, issue_token
from kim_runtime.envelope import Envelope
from kim_schemas.base import Event
from kim_staffing.application.caseload import CaseloadPolicy
from kim_staffing.bootstrap import build_app
from kim_staffing.settings import StaffingSettings
from tests.polling import eventually as _eventually

SECRET = "staffing-test-secret-of-enough-length!"


def token(role: Role, sub: str | None = None) -> dict[str, str]:
    # the Kreis's team (its cases in these tests are kreis-unna's); a partner token names the Kreis as organisation
    principal = Principal(sub=sub or f"{role.value}-1", role=role, team="kreis-unna", organisation="kreis-unna")
    return {"Authorization": f"Bearer {issue_token(SECRET, principal)}"}


async def skip_history(bootstrap: str, group: str, topics: tuple[str, ...]) -> None:
    """Move the consumer group to the end of its topics, so a test does not wade through what other tests (and
    earlier runs) published there: each test produces the events it asserts on after this."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics))
    finally:
        await admin.close()
    parts = [TopicPartition(d["topic"], p["partition"]) for d in described for p in d.get("partitions") or ()]
    if not parts:
        return
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(parts)
        end = await consumer.end_offsets(parts)
        await consumer.commit({tp: OffsetAndMetadata(offset, "") for tp, offset in end.items()})
    finally:
        await consumer.stop()


@contextlib.asynccontextmanager
async def running(database_url: str, bootstrap: str, **settings):
    # a consumer group of its own: no member of another test or of the e2e processes can be in it
    prefix = f"kim-test-{uuid.uuid4().hex[:8]}"
    await skip_history(bootstrap, f"{prefix}-staffing-{CaseloadPolicy.name}", ("kim.cases", "kim.staffing"))
    app = build_app(StaffingSettings(database_url=database_url, kafka_bootstrap=bootstrap, auth_secret=SECRET,
                                     consumer_group_prefix=prefix, **settings))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://staffing") as client:
            client.app = app
            yield client


@pytest.fixture
async def api(fresh_db, kafka_bootstrap):
    async with running(fresh_db, kafka_bootstrap) as client:
        yield client


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class CasesProducer:
    """Stands in for the cases service: publishes its events on kim.cases as CloudEvents records."""

    def __init__(self, bootstrap: str):
        self.producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
        self.versions: dict[str, int] = {}

    async def publish(self, event: Event, *, at: datetime | None = None) -> Envelope:
        stream = event.stream_id()
        self.versions[stream] = self.versions.get(stream, 0) + 1
        env = Envelope(type=event.event_type, schema_version=event.schema_version, source="/kim/cases",
                       stream_id=stream, stream_version=self.versions[stream], actor="cm-test",
                       time=at or datetime.now(UTC), data=event.model_dump(mode="json"))
        await self.producer.send_and_wait("kim.cases", env.kafka_value(), key=env.kafka_key(),
                                          headers=[(k, v.encode()) for k, v in env.kafka_headers().items()])
        return env


@pytest.fixture
async def cases(kafka_bootstrap):
    feed = CasesProducer(kafka_bootstrap)
    await feed.producer.start()
    try:
        yield feed
    finally:
        await feed.producer.stop()


eventually = _eventually

TODAY = date.today()
