"""Waiting for a service's deadline scheduler after a test moved its clock (kim_runtime.scheduler.ManualClock)."""

from __future__ import annotations

from tests.polling import eventually


async def settled(scheduler) -> None:
    """The scheduler has fired everything due by its clock's present: what is left lies in the future. A deadline
    whose handler failed (postponed, attempts > 0) fails the test with its error."""
    async def looked():
        async with scheduler.pool.acquire() as conn:
            failed = await conn.fetch("SELECT key, last_error FROM deadlines WHERE attempts > 0")
            assert not failed, [dict(r) for r in failed]
            nxt = await conn.fetchval("SELECT min(due_at) FROM deadlines")
        return nxt is None or nxt > scheduler.clock.now()
    await eventually(looked)
