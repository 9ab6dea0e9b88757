"""The four services as real processes (`python -m kim_<svc>`) on free ports, each on a fresh database of the
session's stack, for the e2e tier; stopped by pid and their databases dropped when the tier is done.

Package scope, not session: the services join the same consumer groups as the integration tier's in-process
services (group ids are fixed per service), so they must be gone before that tier runs. Before they start, their
groups are moved to the end of each topic: the broker may hold other tests' events, and these services must see
only what the e2e tests do.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kim_cli.stack import StackHandle

from .otlp import Collector
from tests.four_services import four_services


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
    logs = tmp_path_factory.mktemp("e2e-logs")
    traces = Collector().start()  # the services export their spans to it (OTLP over HTTP)
    try:
        with four_services(stack, logs, "kim_e2e", KIM_AUDIT_ANCHOR_DIR=str(logs / "anchors"),
                           KIM_AUDIT_ANCHOR_INTERVAL_S="1", OTEL_EXPORTER_OTLP_ENDPOINT=traces.endpoint,
                           OTEL_BSP_SCHEDULE_DELAY="500") as running:
            yield Services(running.urls, {n: stack.database_url(db) for n, db in running.databases.items()},
                           running.auth_secret, stack.kafka_bootstrap, logs, traces)
    finally:
        traces.stop()
