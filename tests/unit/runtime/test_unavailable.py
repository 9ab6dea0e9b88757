"""An unavailable database answers 503 with Retry-After (never 500), logged with a rate limit; readiness says why;
a crashed background task is restarted with backoff. No I/O: the errors are raised by the routes themselves."""

from __future__ import annotations

import asyncio
import logging

import asyncpg
import pytest
from fastapi.testclient import TestClient

from kim_runtime.http import RETRY_AFTER_S, create_app
from kim_runtime.resilience import RateLimitedLog, is_unavailable, supervise

OUTAGES = [
    asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    asyncpg.PostgresConnectionError("connection failure"),
    asyncpg.CannotConnectNowError("the database system is starting up"),
    asyncpg.AdminShutdownError("terminating connection due to administrator command"),
    asyncpg.CrashShutdownError("crash shutdown"),
    asyncpg.TooManyConnectionsError("too many clients"),
    ConnectionRefusedError(111, "Connect call failed"),
    ConnectionResetError(104, "reset by peer"),
    TimeoutError(),
    asyncpg.InterfaceError("connection is closed"),
    asyncpg.InternalClientError("cannot switch to state 15; another operation (2) is in progress"),
]
BUGS = [asyncpg.InterfaceError("cannot call Connection.fetch(): connection has been released back to the pool"),
        ValueError("a bug")]


def app_raising(exc: BaseException, checks: dict | None = None) -> TestClient:
    app = create_app("t", auth_secret="unit-test-secret-of-at-least-32-bytes!", readiness=checks)

    @app.get("/boom")
    async def boom():
        raise exc

    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize("exc", OUTAGES, ids=lambda e: type(e).__name__)
def test_an_unavailable_database_answers_503_with_retry_after(exc):
    assert is_unavailable(exc)
    r = app_raising(exc).get("/boom")
    assert r.status_code == 503
    assert r.headers["Retry-After"] == str(RETRY_AFTER_S)
    assert "unavailable" in r.json()["detail"]


@pytest.mark.parametrize("exc", BUGS, ids=lambda e: type(e).__name__)
def test_a_bug_stays_a_500_without_retry_after(exc):
    assert not is_unavailable(exc)
    r = app_raising(exc).get("/boom")
    assert r.status_code == 500
    assert "Retry-After" not in r.headers


def test_repeated_outage_errors_are_logged_once_per_window_not_once_per_request(caplog):
    client = app_raising(asyncpg.ConnectionDoesNotExistError("gone"))
    with caplog.at_level(logging.WARNING, logger="kim_runtime.http"):
        statuses = {client.get("/boom").status_code for _ in range(40)}
    assert statuses == {503}
    lines = [r for r in caplog.records if "database is unavailable" in r.getMessage()]
    assert len(lines) == 1, [r.getMessage() for r in lines]


async def _down() -> None:
    raise RuntimeError("follower, database unavailable")


async def _up() -> None:
    return None


@pytest.mark.parametrize(("checks", "status"), [({"database": _up, "relay": _up}, 200),
                                                ({"database": _up, "relay": _down}, 503),
                                                ({"database": _down, "relay": _up}, 503),
                                                ({"database": _down, "relay": _down}, 503)])
def test_readiness_is_503_with_retry_after_when_any_part_is_down(checks, status):
    r = app_raising(ValueError(), checks).get("/readyz")
    assert r.status_code == status
    assert ("Retry-After" in r.headers) == (status == 503)
    body = r.json()
    assert body["ready"] == (status == 200)
    for name, check in checks.items():
        assert (body["checks"][name] == "ok") == (check is _up)
    if "relay" in body["checks"] and body["checks"]["relay"] != "ok":
        assert "follower" in body["checks"]["relay"]


def test_rate_limited_log_reports_what_it_left_out_and_the_recovery(caplog):
    now = [0.0]
    limited = RateLimitedLog(logging.getLogger("t.rl"), "db down", every=30, clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="t.rl"):
        logged = []
        for t in range(0, 70, 5):  # every 5 s for 70 s: logged at 0, 30, 60
            now[0] = float(t)
            logged.append(limited.failed("refused"))
        now[0] = 72.0
        limited.recovered()
    assert [t for t, was in zip(range(0, 70, 5), logged) if was] == [0, 30, 60]
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == "db down: refused"
    assert messages[1] == "db down: refused (5 more since the last report)"
    assert messages[-1] == "db down: recovered after 72.0 s"


async def test_supervise_restarts_a_crashing_task_with_growing_delays_until_cancelled():
    runs, crashes = [], []
    loop = asyncio.get_running_loop()

    async def flaky():
        runs.append(loop.time())
        if len(runs) < 4:
            raise ConnectionError("boom")
        await asyncio.Event().wait()  # the fourth run lasts

    task = asyncio.create_task(supervise("t", flaky, on_crash=crashes.append, logger=logging.getLogger("t.sup"),
                                         base_delay=0.01, max_delay=0.04))
    while len(runs) < 4:
        await asyncio.sleep(0.005)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(crashes) == 3 and all(isinstance(c, ConnectionError) for c in crashes)
    gaps = [b - a for a, b in zip(runs, runs[1:])]
    assert gaps[0] >= 0.01 and gaps[1] >= 0.02 and gaps[2] >= 0.04
