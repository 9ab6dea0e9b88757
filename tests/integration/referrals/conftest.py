"""A second fresh database, for the real cases service beside the referrals service."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from kim_cli.stack import create_database, drop_database


@pytest.fixture
async def cases_db(stack) -> AsyncIterator[str]:
    name = f"kim_test_{uuid.uuid4().hex[:16]}"
    await create_database(stack.postgres_url, name)
    try:
        yield stack.database_url(name)
    finally:
        await drop_database(stack.postgres_url, name)
