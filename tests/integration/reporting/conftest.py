"""The reporting service in-process on the real stack, reading topics of its own (a unique suffix per test)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI

from kim_reporting.bootstrap import build_app
from kim_reporting.entrypoints.deps import Service
from kim_reporting.settings import ReportingSettings
from kim_runtime.auth import Principal, Role, issue_token
from kim_runtime.topics import service_topic

from ..runtime.harness import eventually
from .kafka_io import create_topics, produce

SECRET = "reporting-test-secret-at-least-32-bytes!"


def auth(sub: str = "lead-1", role: Role = Role.TEAM_LEAD, **claims) -> dict:
    return {"Authorization": f"Bearer {issue_token(SECRET, Principal(sub=sub, role=role, **claims))}"}


@dataclass
class Running:
    app: FastAPI
    client: httpx.AsyncClient
    suffix: str
    bootstrap: str

    @property
    def service(self) -> Service:
        return self.app.state.service

    def topic(self, service: str) -> str:
        return service_topic(service) + self.suffix

    async def publish(self, history) -> None:
        for service, events in history.events.items():
            await produce(self.bootstrap, self.topic(service), events)

    async def caught_up(self, timeout: float = 60.0) -> list[dict]:
        async def check():
            body = (await self.client.get("/lag", headers=auth())).json()
            behind = [p for p in body["projections"] if p["events_behind"]]
            return body["projections"] if not behind else None
        return await eventually(check, timeout=timeout, every=0.1)


@contextlib.asynccontextmanager
async def running_service(database_url: str, bootstrap: str) -> AsyncIterator[Running]:
    suffix = f".t{uuid.uuid4().hex[:10]}"
    await create_topics(bootstrap, suffix)
    settings = ReportingSettings(database_url=database_url, kafka_bootstrap=bootstrap, topic_suffix=suffix,
                                 auth_secret=SECRET)
    app = build_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://reporting") as client:
            await eventually(lambda: _ready(client), timeout=60)
            yield Running(app, client, suffix, bootstrap)


async def _ready(client: httpx.AsyncClient) -> bool:
    return (await client.get("/readyz")).status_code == 200


@pytest.fixture
async def reporting(fresh_db, kafka_bootstrap) -> AsyncIterator[Running]:
    async with running_service(fresh_db, kafka_bootstrap) as running:
        yield running
