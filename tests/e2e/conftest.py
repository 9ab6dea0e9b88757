"""The four services as real processes (`python -m kim_<svc>`) on free ports, each on a fresh database of the
session's stack, for the e2e tier; stopped by pid and their databases dropped when the tier is done.

Package scope, not session: the services join the same consumer groups as the integration tier's in-process
services (group ids are fixed per service), so they must be gone before that tier runs. Before they start, their
groups are moved to the end of each topic: the broker may hold other tests' events, and these services must see
only what the e2e tests do.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kim_cli import processes as procs
from kim_cli.stack import StackHandle, create_database, drop_database

from .otlp import Collector
from tests.ports import free_port


@dataclass
class Services:
    urls: dict[str, str]
    database_urls: dict[str, str]
    auth_secret: str
    kafka_bootstrap: str
    logs_dir: Path
    traces: Collector

    def anchor_file(self, service: str) -> Path:
        """Where the service appends its signed anchors (every second here; every 5 minutes by default)."""
        return self.logs_dir / "anchors" / f"{service}.jsonl"




@pytest.fixture(scope="package")
def services(stack: StackHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    tag = uuid.uuid4().hex[:10]
    names = {name: f"kim_e2e_{name}_{tag}" for name in procs.SERVICES}
    for db in names.values():
        asyncio.run(create_database(stack.postgres_url, db))
    groups = {g: t for name in procs.SERVICES for g, t in procs.consumer_groups(name).items()}
    asyncio.run(procs.skip_history(stack.kafka_bootstrap, groups))
    secret, logs = secrets.token_urlsafe(32), tmp_path_factory.mktemp("e2e-logs")
    started: list[procs.ServiceProcess] = []
    asyncio.run(procs.ensure_service_roles(stack.postgres_url, list(procs.SERVICES)))
    traces = Collector().start()  # the services export their spans to it (OTLP over HTTP)
    try:
        for name in procs.SERVICES:
            port = free_port()
            service_url, migration = procs.database_urls(stack.database_url(names[name]), name)
            env = procs.service_env(database_url=service_url, port=port, **migration,
                                    kafka_bootstrap=stack.kafka_bootstrap, auth_secret=secret,
                                    pseudonym_secret=secrets.token_urlsafe(32),
                                    KIM_AUDIT_ANCHOR_DIR=str(logs / "anchors"),
                                    KIM_AUDIT_ANCHOR_INTERVAL_S="1", KIM_LOG_FORMAT="json",
                                    OTEL_EXPORTER_OTLP_ENDPOINT=traces.endpoint, OTEL_BSP_SCHEDULE_DELAY="500")
            started.append(procs.start_service(name, port, env, logs))
        procs.wait_ready(started)
        yield Services({p.name: p.url for p in started}, {n: stack.database_url(db) for n, db in names.items()},
                       secret, stack.kafka_bootstrap, logs, traces)
    finally:
        procs.stop_services(started)
        traces.stop()
        for db in names.values():
            asyncio.run(drop_database(stack.postgres_url, db))
