"""A read that waits for a swap sees the swapped-in tables whole, never only the rows committed before it began."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from kim_reporting.adapters.reading import snapshot
from kim_runtime.projection import lock_key

pytestmark = [pytest.mark.postgres]


async def test_a_read_waiting_for_a_swap_sees_every_row_of_the_rebuilt_table(fresh_db):
    first, second = sorted(("a", "b"), key=lock_key)  # the read locks `first` and then waits on `second`
    conns = [await asyncpg.connect(fresh_db) for _ in range(3)]
    swapper, writer, reader = conns
    try:
        await swapper.execute(f'CREATE SCHEMA "{second}"; CREATE TABLE "{second}".t (n int);'
                              f'CREATE SCHEMA "{second}__rebuild"; CREATE TABLE "{second}__rebuild".t (n int);')
        swap = swapper.transaction()
        await swap.start()
        await swapper.execute("SELECT pg_advisory_xact_lock($1)", lock_key(second))

        async def read() -> int:
            async with snapshot(reader, (first, second)):
                return await reader.fetchval(f'SELECT count(*) FROM "{second}".t')

        reading = asyncio.create_task(read())
        await asyncio.sleep(0.3)  # the read now waits on the swap's lock
        assert not reading.done()
        # the rebuild's last batch commits, then the swap renames the fresh schema in and commits
        await writer.execute(f'INSERT INTO "{second}__rebuild".t SELECT generate_series(1, 10)')
        await swapper.execute(f'ALTER SCHEMA "{second}" RENAME TO "{second}__old";'
                              f'ALTER SCHEMA "{second}__rebuild" RENAME TO "{second}"')
        await swap.commit()
        assert await asyncio.wait_for(reading, 10) == 10
        # and the read left no lock behind: the next swap gets its exclusive lock at once
        assert await swapper.fetchval("SELECT pg_try_advisory_lock($1)", lock_key(second))
    finally:
        for conn in conns:
            await conn.close()
