"""Fixtures shared by every tier.

`stack` brings up the real local Kafka and PostgreSQL (kim_cli.stack.ensure_up) once per session, only when a
test asks for it (directly, through `fresh_db` / `kafka_bootstrap`, or by the `kafka` / `postgres` markers), and
stops at the end exactly the processes it started. The unit tier therefore starts nothing and runs anywhere.
The suite has a stack of its own, never `make run`'s: <repo>/.cache/test-stack on ports 29092 (Kafka), 29093
(controller) and 29432 (PostgreSQL) (StackConfig.for_tests). KIM_STACK_DIR, KIM_KAFKA_PORT, KIM_KAFKA_CONTROLLER_PORT,
KIM_POSTGRES_PORT, or KIM_KAFKA_BOOTSTRAP / KIM_POSTGRES_URL for existing servers, override it. Its settings are put
into the environment, so every `kim` command and service a test starts finds the same stack.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from kim_cli.stack import StackConfig, StackHandle, create_database, drop_database, ensure_up, stop

# The suite is a dev environment: a cases service started without a key-encryption key uses the public dev-only one
# (and so do the `kim` commands the tests run). Tests about KEKs pass their own; outside dev a missing KEK is fatal.
os.environ.setdefault("KIM_ENV", "dev")
TEST_STACK = StackConfig.for_tests()
os.environ.update(TEST_STACK.environment())


@pytest.fixture(scope="session")
def stack() -> Iterator[StackHandle]:
    handle = ensure_up(TEST_STACK, log=print)
    try:
        yield handle
    finally:
        stop(handle)


@pytest.fixture(autouse=True)
def _stack_for_marked_tests(request: pytest.FixtureRequest) -> None:
    """A test marked `kafka` or `postgres` gets the stack even if it does not name the fixture."""
    if request.node.get_closest_marker("kafka") or request.node.get_closest_marker("postgres"):
        request.getfixturevalue("stack")


@pytest.fixture(scope="session")
def kafka_bootstrap(stack: StackHandle) -> str:
    return stack.kafka_bootstrap


@contextlib.asynccontextmanager
async def new_database(stack: StackHandle) -> AsyncIterator[str]:
    """The URL of a new, empty database on the stack's PostgreSQL, dropped on leaving."""
    name = f"kim_test_{uuid.uuid4().hex[:16]}"
    await create_database(stack.postgres_url, name)
    try:
        yield stack.database_url(name)
    finally:
        await drop_database(stack.postgres_url, name)


@pytest.fixture
async def fresh_db(stack: StackHandle) -> AsyncIterator[str]:
    """The URL of a new, empty database on the stack's PostgreSQL, dropped after the test."""
    async with new_database(stack) as url:
        yield url
