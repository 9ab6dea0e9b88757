"""The four services as real processes (`python -m kim_<svc>`) on free ports, each on a fresh database of the
session's stack: what the e2e and contract tiers run against. Before they start, their consumer groups are moved to
the end of each topic (the broker may hold other tests' events); when the block ends they are stopped by pid and
their databases dropped."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kim_cli import processes as procs
from kim_cli.stack import StackHandle, create_database, drop_database

from tests.ports import free_block


@dataclass
class Running:
    started: list[procs.ServiceProcess]
    databases: dict[str, str]  # service -> its database name
    auth_secret: str

    @property
    def urls(self) -> dict[str, str]:
        return {p.name: p.url for p in self.started}


@contextlib.contextmanager
def four_services(stack: StackHandle, logs: Path, prefix: str, **env: str) -> Iterator[Running]:
    """Start the four services with `env` added to each one's environment (JSON logs in `logs`)."""
    tag = uuid.uuid4().hex[:10]
    names = {name: f"{prefix}_{name}_{tag}" for name in procs.SERVICES}
    for db in names.values():
        asyncio.run(create_database(stack.postgres_url, db))
    groups = {g: t for name in procs.SERVICES for g, t in procs.consumer_groups(name).items()}
    asyncio.run(procs.skip_history(stack.kafka_bootstrap, groups))
    secret = secrets.token_urlsafe(32)
    started: list[procs.ServiceProcess] = []
    asyncio.run(procs.ensure_service_roles(stack.postgres_url, list(procs.SERVICES)))
    base = free_block(len(procs.SERVICES))
    ports = {name: base + i for i, name in enumerate(procs.SERVICES)}
    try:
        for name in procs.SERVICES:
            port = ports[name]
            service_url, migration = procs.database_urls(stack.database_url(names[name]), name)
            started.append(procs.start_service(name, port, procs.service_env(
                database_url=service_url, port=port, **migration, kafka_bootstrap=stack.kafka_bootstrap,
                auth_secret=secret, pseudonym_secret=secrets.token_urlsafe(32), KIM_LOG_FORMAT="json",
                **(procs.peer_env(name, ports) | env)), logs))
        procs.wait_ready(started)
        yield Running(started, names, secret)
    finally:
        procs.stop_services(started)
        for db in names.values():
            asyncio.run(drop_database(stack.postgres_url, db))
