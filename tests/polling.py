"""Polling with a deadline: how tests wait for eventually consistent effects without timing anything."""

from __future__ import annotations

import asyncio


async def eventually(check, *, timeout: float = 30.0, every: float = 0.05):
    """Poll `check` (async; truthy when done) until it holds, else fail with its last value."""
    deadline = asyncio.get_running_loop().time() + timeout
    last = None
    while asyncio.get_running_loop().time() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(every)
    raise AssertionError(f"condition not met within {timeout}s; last value {last!r}")
