"""A second fresh database, for the real cases service beside the referrals service."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.conftest import new_database


@pytest.fixture
async def cases_db(stack) -> AsyncIterator[str]:
    async with new_database(stack) as url:
        yield url
