"""The durable scheduler: deadlines set by events, fired exactly once as events when they fall due.

A service gives its `EventStore` a `Schedule`: a function from an appended envelope to the deadline changes it makes
(`Deadline` sets or moves one by key, `Cancel` drops one or every key with a prefix). The store passes them to
`kim_append` (migration 006), so a deadline commits or fails with the event that sets it. The `Scheduler` fires
due rows: per row, in one transaction under `FOR UPDATE SKIP LOCKED`, it deletes the row and runs the kind's handler,
which appends the deadline's event through the same store. Several replicas never fire one row twice (the lock,
then the row is gone); a crash before the commit leaves the row, so it fires after the restart. A handler that
fails postpones its row (`retry_s`, doubling) and the others go on.

Time comes from a `Clock`: `SystemClock` in production; `ManualClock` in tests, which moves only when told and
wakes the worker when it does. The worker never polls: it sleeps until the next due time (at most `max_sleep_s`,
against a lost notification), or until `kim_schedule` notifies `kim_deadlines`, or the clock moves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

import asyncpg

from .envelope import Envelope
from .resilience import RateLimitedLog

log = logging.getLogger(__name__)

LOCAL_TIME = ZoneInfo("Europe/Berlin")  # the county's days: a date falls due at its local midnight
CHANNEL = "kim_deadlines"
HELD_S = 1.0  # how soon to look again at a due deadline another replica is firing


@dataclass(frozen=True)
class Deadline:
    """Set (or move) the deadline `key`: at `due_at` the handler of `kind` fires with `data`."""

    key: str
    kind: str
    stream_id: str
    due_at: datetime
    data: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Cancel:
    """Cancel the deadline `key`, or every deadline whose key starts with `prefix`."""

    key: str | None = None
    prefix: str | None = None


Change = Deadline | Cancel
Schedule = Callable[[Envelope], Iterable[Change]]


def start_of(day: date) -> datetime:
    """The instant a day begins in the county (local midnight), as UTC."""
    return datetime.combine(day, time(), LOCAL_TIME).astimezone(UTC)


def local_day(at: datetime) -> date:
    return at.astimezone(LOCAL_TIME).date()


def changes_of(schedule: Schedule | None, envelopes: Sequence[Envelope]) -> list[dict]:
    """The deadline changes of appended envelopes, as kim_schedule takes them."""
    if schedule is None:
        return []
    out: list[dict] = []
    for env in envelopes:
        for change in schedule(env):
            if isinstance(change, Cancel):
                out.append({"cancel_prefix": change.prefix} if change.prefix else {"key": change.key, "cancel": True})
            else:
                out.append({"key": change.key, "kind": change.kind, "stream_id": change.stream_id,
                            "due_at": change.due_at.isoformat(), "data": change.data, "set_by": env.id})
    return out


# -- clocks -----------------------------------------------------------------------------------------------------
class Clock(Protocol):
    def now(self) -> datetime: ...

    def seconds_until(self, at: datetime) -> float | None:
        """How long to sleep until `at`; None: until the clock is moved (a manual clock)."""

    def on_move(self, wake: Callable[[], None]) -> None:
        """Call `wake` whenever the clock jumps (a manual clock); a real clock never does."""


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def seconds_until(self, at: datetime) -> float | None:
        return max((at - self.now()).total_seconds(), 0.0)

    def on_move(self, wake: Callable[[], None]) -> None:
        pass


class ManualClock:
    """A clock for tests: stands still until `advance` or `set`, which wake every worker watching it."""

    def __init__(self, now: datetime):
        self._now = now
        self._watchers: list[Callable[[], None]] = []

    def now(self) -> datetime:
        return self._now

    def today(self) -> date:
        return local_day(self._now)

    def set(self, now: datetime) -> None:
        self._now = now
        for wake in self._watchers:
            wake()

    def advance(self, delta: timedelta) -> None:
        self.set(self._now + delta)

    def seconds_until(self, at: datetime) -> float | None:
        return None

    def on_move(self, wake: Callable[[], None]) -> None:
        self._watchers.append(wake)


# -- the worker -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Due:
    key: str
    kind: str
    stream_id: str
    due_at: datetime
    data: dict
    attempts: int


FireHandler = Callable[[asyncpg.Connection, Due, datetime], Awaitable[None]]

_CLAIM = ("SELECT key, kind, stream_id, due_at, data, attempts FROM deadlines WHERE due_at <= $1 "
          "ORDER BY due_at, key LIMIT $2 FOR UPDATE SKIP LOCKED")
_POSTPONE = "UPDATE deadlines SET attempts = attempts + 1, last_error = $2, due_at = $3 WHERE key = $1"


class Scheduler:
    def __init__(self, pool: asyncpg.Pool, handlers: Mapping[str, FireHandler], *, clock: Clock,
                 dsn: str | None = None, batch_size: int = 50, max_sleep_s: float = 300.0, retry_s: float = 60.0,
                 on_fired: Callable[[int], None] | None = None, on_failed: Callable[[], None] | None = None):
        self.pool, self.handlers, self.clock, self.dsn = pool, handlers, clock, dsn
        self.on_fired, self.on_failed = on_fired, on_failed
        self.batch_size, self.max_sleep_s, self.retry_s = batch_size, max_sleep_s, retry_s
        self.fired = 0  # deadlines this process fired
        self.failures = 0
        self.wakeups = 0  # times the worker looked for due deadlines
        self._wake = asyncio.Event()
        self._listen_log = RateLimitedLog(log, "scheduler's LISTEN connection is lost; waking by timer meanwhile")
        clock.on_move(self.wake)

    def wake(self) -> None:
        self._wake.set()

    async def fire_due(self) -> int:
        """Fire every deadline due by the clock's now, batch by batch; returns how many fired."""
        total = 0
        while True:
            fired, claimed = await self._fire_batch(self.clock.now())
            total += fired
            if claimed < self.batch_size:
                return total

    async def _fire_batch(self, now: datetime) -> tuple[int, int]:
        fired = 0
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(_CLAIM, now, self.batch_size)
            for row in rows:
                due = Due(**dict(row))
                if await self._fire_one(conn, due, now):
                    fired += 1
        self.fired += fired
        if fired and self.on_fired:
            self.on_fired(fired)
        return fired, len(rows)

    async def _fire_one(self, conn: asyncpg.Connection, due: Due, now: datetime) -> bool:
        handler = self.handlers.get(due.kind)
        try:
            if handler is None:
                raise LookupError(f"no handler for deadlines of kind {due.kind!r}")
            async with conn.transaction():  # a savepoint: a failing handler leaves the others' work standing
                await conn.execute("DELETE FROM deadlines WHERE key = $1", due.key)
                await handler(conn, due, now)
            return True
        except (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError):
            raise  # the database is away: the whole batch is rolled back and tried again
        except Exception as exc:
            self.failures += 1
            if self.on_failed:
                self.on_failed()
            delay = min(self.retry_s * 2 ** due.attempts, 86_400.0)
            log.warning("deadline %s (%s) failed (%r); next try in %.0f s", due.key, due.kind, exc, delay)
            await conn.execute(_POSTPONE, due.key, repr(exc)[:500], now + timedelta(seconds=delay))
            return False

    async def next_due(self) -> datetime | None:
        async with self.pool.acquire() as conn:
            return await conn.fetchval("SELECT min(due_at) FROM deadlines")

    async def run(self) -> None:
        """Until cancelled: fire what is due, then sleep until the next due time, a notification or a clock move."""
        listener = asyncio.create_task(self._listen_forever(), name="deadline-listener") if self.dsn else None
        try:
            while not asyncio.current_task().cancelling():  # a cancellation asyncio.wait_for swallowed (3.11) ends it
                self._wake.clear()
                self.wakeups += 1
                await self.fire_due()
                await self._sleep(await self.next_due())
            raise asyncio.CancelledError
        finally:
            if listener is not None:
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listener

    async def _sleep(self, next_due: datetime | None) -> None:
        timeout = self.max_sleep_s
        if next_due is not None:
            until = self.clock.seconds_until(next_due)
            if until == 0.0:
                until = HELD_S  # due, yet not fired: another replica holds it; look again shortly, do not spin
            timeout = None if until is None else min(until, self.max_sleep_s)
        elif self.clock.seconds_until(self.clock.now()) is None:
            timeout = None  # a manual clock: nothing is due until it moves or a deadline is set
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=timeout)

    async def _listen_forever(self) -> None:
        """Keep a LISTEN on kim_deadlines open (reopened with backoff), so a new or moved deadline wakes the worker."""
        backoff = 0.2
        while True:
            conn = None
            try:
                conn = await asyncpg.connect(self.dsn, timeout=5)
                closed = asyncio.Event()
                conn.add_termination_listener(lambda _c: closed.set())
                await conn.add_listener(CHANNEL, lambda *_: self.wake())
                backoff = 0.2
                self._listen_log.recovered()
                self.wake()  # a change may have been missed while it was away
                while not closed.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(closed.wait(), timeout=30)
                    if not closed.is_set():
                        await conn.fetchval("SELECT 1", timeout=5)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._listen_log.failed(repr(exc))
            finally:
                if conn is not None:
                    conn.terminate()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)


async def pending(conn: asyncpg.Connection, prefix: str = "") -> list[dict]:
    """The deadlines not yet fired (whose key starts with `prefix`), earliest first."""
    rows = await conn.fetch("SELECT key, kind, stream_id, due_at, data, attempts, last_error FROM deadlines "
                            "WHERE starts_with(key, $1) ORDER BY due_at, key", prefix)
    return [dict(r) for r in rows]


async def derive_once(store, schedule: Schedule, *, batch_size: int = 1000) -> int | None:
    """Once per store: the deadlines of the events stored before the scheduler (or this schedule) existed, derived
    by running the schedule over the whole history in order (so later events move and cancel as they did). Due ones
    fire as soon as the scheduler starts. Returns the number of changes applied, None when done before."""
    async with store.pool.acquire() as conn:
        if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM deadlines_derived)"):
            return None
    changes: list[dict] = []
    async for recorded in store.read_all():
        changes += changes_of(schedule, [recorded.envelope])
    async with store.pool.acquire() as conn, conn.transaction():
        if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM deadlines_derived)"):
            return None
        for start in range(0, len(changes), batch_size):
            await conn.execute("SELECT kim_schedule($1::jsonb)", changes[start:start + batch_size])
        await conn.execute("INSERT INTO deadlines_derived (changes) VALUES ($1)", len(changes))
    log.info("derived %d deadline changes from the stored history", len(changes))
    return len(changes)
