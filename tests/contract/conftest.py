"""The four services as real processes on fresh databases of the session's stack, for the contract tier (as the
e2e tier starts them: tests/e2e/conftest.py); stopped by pid and their databases dropped when the tier is done."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from kim_cli import processes as procs
from kim_cli.stack import StackHandle, create_database, drop_database
from tests.e2e.conftest import free_port


@dataclass
class Services:
    urls: dict[str, str]
    auth_secret: str


@pytest.fixture(scope="package")
def services(stack: StackHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    tag = uuid.uuid4().hex[:10]
    names = {name: f"kim_contract_{name}_{tag}" for name in procs.SERVICES}
    for db in names.values():
        asyncio.run(create_database(stack.postgres_url, db))
    groups = {g: t for name in procs.SERVICES for g, t in procs.consumer_groups(name).items()}
    asyncio.run(procs.skip_history(stack.kafka_bootstrap, groups))
    secret, logs = secrets.token_urlsafe(32), tmp_path_factory.mktemp("contract-logs")
    started: list[procs.ServiceProcess] = []
    asyncio.run(procs.ensure_service_roles(stack.postgres_url, list(procs.SERVICES)))
    try:
        for name in procs.SERVICES:
            port = free_port()
            service_url, migration = procs.database_urls(stack.database_url(names[name]), name)
            env = procs.service_env(database_url=service_url, port=port, **migration,
                                    kafka_bootstrap=stack.kafka_bootstrap, auth_secret=secret,
                                    pseudonym_secret=secrets.token_urlsafe(32), KIM_LOG_FORMAT="json")
            started.append(procs.start_service(name, port, env, logs))
        procs.wait_ready(started)
        yield Services({p.name: p.url for p in started}, secret)
    finally:
        procs.stop_services(started)
        for db in names.values():
            asyncio.run(drop_database(stack.postgres_url, db))
