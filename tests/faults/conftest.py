"""The fault tier's own Kafka and PostgreSQL (it kills and restarts them, so never the session's stack), and one
rig per test (options through indirect parametrization). Both stop exactly the processes they started, by pid."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.faults.rig import PrivateStack, Rig, running


@pytest.fixture(scope="package")
def private_stack() -> Iterator[PrivateStack]:
    with running(PrivateStack()) as stack:
        yield stack


@pytest.fixture
async def rig(private_stack: PrivateStack, tmp_path, request) -> AsyncIterator[Rig]:
    r = Rig(private_stack, tmp_path, **getattr(request, "param", {}))
    try:
        yield r
    finally:
        await r.close()
