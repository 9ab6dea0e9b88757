"""Staying up while PostgreSQL or Kafka is away: which errors mean "unavailable", rate-limited logging of them,
and a supervisor that restarts a background task with backoff.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import asyncpg

UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,  # class 08: connection lost or refused (ConnectionDoesNotExistError, ...)
    asyncpg.CannotConnectNowError,  # 57P03: starting up or shutting down
    asyncpg.AdminShutdownError,  # 57P01: terminated by the administrator (restart, pg_terminate_backend)
    asyncpg.CrashShutdownError,  # 57P02
    asyncpg.InsufficientResourcesError,  # class 53: disk full, out of memory, too many connections (53300)
    asyncpg.ReadOnlySQLTransactionError,  # 25006: a failover left the service on a standby that cannot write yet
    ConnectionError,  # refused / reset while the pool opens a new connection
    asyncpg.InternalClientError,  # a connection the server dropped mid-operation, found broken when it is released
    TimeoutError,  # the pool could not hand out a connection in time
)


def is_unavailable(exc: BaseException) -> bool:
    """True when exc says the database (or the network to it) is away, not that a request or the code is wrong."""
    if isinstance(exc, UNAVAILABLE_ERRORS):
        return True
    # asyncpg raises its InterfaceError also for misuse; only "the connection is closed" means unavailable
    return isinstance(exc, asyncpg.InterfaceError) and "closed" in str(exc)


class RateLimitedLog:
    """Logs the first of a run of repeated errors at once, then at most one line per `every` seconds, saying how
    many were left out in between; `recovered()` ends the run with one line (when there was one)."""

    def __init__(self, logger: logging.Logger, what: str, *, every: float = 30.0, level: int = logging.WARNING,
                 clock: Callable[[], float] = time.monotonic):
        self.logger, self.what, self.every, self.level, self.clock = logger, what, every, level, clock
        self.last_logged: float | None = None
        self.suppressed = 0
        self.failing_since: float | None = None

    def failed(self, exc: BaseException | str, detail: str = "") -> bool:
        """Record one failure; returns whether it was logged."""
        now = self.clock()
        if self.failing_since is None:
            self.failing_since = now
        if self.last_logged is not None and now - self.last_logged < self.every:
            self.suppressed += 1
            return False
        more = f" ({self.suppressed} more since the last report)" if self.suppressed else ""
        self.logger.log(self.level, "%s: %s%s%s", self.what, exc, detail, more)
        self.last_logged, self.suppressed = now, 0
        return True

    def recovered(self) -> None:
        if self.failing_since is not None:
            self.logger.info("%s: recovered after %.1f s", self.what, self.clock() - self.failing_since)
        self.last_logged, self.suppressed, self.failing_since = None, 0, None


async def supervise(name: str, run: Callable[[], Awaitable[None]], *, on_crash: Callable[[BaseException], None],
                    logger: logging.Logger, base_delay: float = 0.5, max_delay: float = 30.0,
                    healthy_after: float = 60.0) -> None:
    """Run `run()` until cancelled; when it raises (or returns), call on_crash and start it again after a delay that
    doubles up to max_delay, and starts over from base_delay once a run lasted healthy_after seconds."""
    delay = base_delay
    log = RateLimitedLog(logger, f"{name} stopped and is restarted", level=logging.ERROR)
    while True:
        started = time.monotonic()
        try:
            await run()
            exc: BaseException = RuntimeError(f"{name} returned")
        except asyncio.CancelledError:
            raise
        except Exception as crashed:  # restarted below: one failing part must not stop the process's others
            exc = crashed
        if asyncio.current_task().cancelling():  # a cancellation swallowed on the way (asyncio.wait_for can, in 3.11)
            raise asyncio.CancelledError
        if time.monotonic() - started >= healthy_after:
            delay = base_delay
        on_crash(exc)
        log.failed(repr(exc), f"; next start in {delay:.1f} s")
        await asyncio.sleep(delay)
        delay = min(delay * 2, max_delay)
