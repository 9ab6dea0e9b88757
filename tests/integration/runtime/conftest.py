"""Fixtures of the runtime's integration tests."""

from __future__ import annotations

import pytest

from kim_runtime import db


@pytest.fixture
async def pool(fresh_db):
    """A pool on a new database with the runtime's migrations applied (room for 20 concurrent writers)."""
    pool = await db.create_pool(fresh_db, max_size=25)
    async with pool.acquire() as conn:
        await db.migrate(conn, [])
    yield pool
    await pool.close()
