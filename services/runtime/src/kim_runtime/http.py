"""The HTTP side every service shares: app factory, error mapping, health, readiness, metrics, versions."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable

import asyncpg
from asyncpg.exceptions import DataError
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError

from .clean_input import CleanInput, check_parameters, invalid
from .errors import ConcurrencyConflict, NotFound, RuleViolation
from .observe import Observed
from .oidc import OidcSettings, TokenVerifier
from .policy import authorize, check_routes
from .resilience import UNAVAILABLE_ERRORS, RateLimitedLog, is_unavailable

log = logging.getLogger(__name__)

ReadinessCheck = Callable[[], Awaitable[None]]
RETRY_AFTER_S = 2  # what a 503 asks the client to wait: a database restart or a relay failover takes seconds
# every 404 leaves no sooner than this after the request came in: finding that a client, case or referral is out of
# the caller's reach takes longer than finding that there is none, and the difference must not tell one from the other
NOT_FOUND_FLOOR_S = 0.010


class NotFoundFloor:
    """ASGI middleware holding back the start of every 404 until `floor` seconds after the request came in (the
    policy answers a resource out of reach exactly like one that does not exist: same status, same body, and so
    also the same time). Other answers pass untouched."""

    def __init__(self, app, floor: float = NOT_FOUND_FLOOR_S):
        self.app, self.floor = app, floor

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.monotonic()

        async def held(message):
            if message["type"] == "http.response.start" and message["status"] == 404:
                await asyncio.sleep(max(0.0, started + self.floor - time.monotonic()))
            await send(message)

        await self.app(scope, receive, held)


def create_app(title: str, *, auth_secret: str, lifespan=None, readiness: dict[str, ReadinessCheck] | None = None,
               version: str = "0.1.0") -> FastAPI:
    @contextlib.asynccontextmanager
    async def checked(app_: FastAPI):
        check_routes(app_)  # a route without an authorization rule stops the service before it serves anything
        if lifespan is None:
            yield
        else:
            async with lifespan(app_):
                yield

    # FastAPI's own telemetry is off: its server span records url.path and url.query, which hold client and case
    # ids; ours (kim_runtime.observe) names the route template only
    app = FastAPI(title=title, version=version, lifespan=checked, dependencies=[Depends(check_parameters)],
                  telemetry={"tracing": False, "metrics": False, "logs": False})
    app.add_middleware(CleanInput)
    app.add_middleware(NotFoundFloor)
    app.add_middleware(Observed)  # outermost: span, duration and correlation id cover everything inside
    app.state.auth_secret = auth_secret
    app.state.token_verifier = TokenVerifier(auth_secret, OidcSettings())
    metrics_token = os.environ.get("KIM_METRICS_TOKEN") or None  # set: Prometheus scrapes with it
    built_openapi = app.openapi

    def openapi() -> dict:
        document = built_openapi()
        check_routes(app, document)  # also names each operation's action (x-kim-action)
        return document

    app.openapi = openapi
    checks = readiness or {}
    unavailable_log = RateLimitedLog(log, f"{title}: answering 503, the database is unavailable")

    async def _unavailable(request: Request, exc: Exception):
        if not is_unavailable(exc):  # an asyncpg InterfaceError that is a bug, not an outage
            log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
            return JSONResponse({"detail": "internal error"}, status_code=500)
        unavailable_log.failed(repr(exc), f" ({request.method} {request.url.path})")
        return JSONResponse({"detail": "the service's database is unavailable; retry shortly"}, status_code=503,
                            headers={"Retry-After": str(RETRY_AFTER_S)})

    for error in (*UNAVAILABLE_ERRORS, asyncpg.InterfaceError):
        app.add_exception_handler(error, _unavailable)

    @app.exception_handler(ConcurrencyConflict)
    async def _conflict(_: Request, exc: ConcurrencyConflict):
        return JSONResponse(
            {"detail": str(exc), "stream_id": exc.stream_id, "current_version": exc.actual}, status_code=409
        )

    @app.exception_handler(RuleViolation)
    async def _rule(_: Request, exc: RuleViolation):
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(NotFound)
    async def _not_found(_: Request, exc: NotFound):
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError):
        return invalid([
            {"field": ".".join(str(p) for p in e["loc"] if p != "body"), "message": e["msg"], "type": e["type"]}
            for e in exc.errors()
        ])

    @app.exception_handler(ValidationError)
    async def _invalid_later(request: Request, exc: ValidationError):
        # input the request models let through but an event or a domain model refused: still the caller's input
        log.warning("%s %s: input refused after the request models: %s", request.method, request.url.path, exc)
        return invalid([{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"], "type": e["type"]}
                        for e in exc.errors(include_url=False, include_input=False)])

    @app.exception_handler(DataError)
    async def _refused_by_database(request: Request, exc: DataError):
        log.warning("%s %s: the database refused a value: %s", request.method, request.url.path, exc)
        return invalid([{"field": "request", "message": f"the database refused a value: {exc}",
                         "type": type(exc).__name__}])

    public = [Depends(authorize("public"))]

    @app.get("/healthz", tags=["ops"], summary="Liveness: the process answers", dependencies=public)
    async def healthz():
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], summary="Readiness: database, Kafka and the outbox relay", dependencies=public)
    async def readyz():
        results = {}
        for name, check in checks.items():
            try:
                await check()
                results[name] = "ok"
            except Exception as exc:  # report, don't crash: ops need to see which part is down
                results[name] = f"down: {exc}"
        ready = all(v == "ok" for v in results.values())
        if ready:
            return JSONResponse({"ready": True, "checks": results})
        return JSONResponse({"ready": False, "checks": results}, status_code=503,
                            headers={"Retry-After": str(RETRY_AFTER_S)})

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics", response_class=PlainTextResponse,
             dependencies=public)
    async def metrics(request: Request):
        if metrics_token and not hmac.compare_digest(request.headers.get("authorization", "").encode(),
                                             f"Bearer {metrics_token}".encode()):
            return JSONResponse({"detail": "this service's metrics need its scrape token: send 'Authorization: "
                                           "Bearer <KIM_METRICS_TOKEN>'"}, status_code=401,
                                headers={"WWW-Authenticate": 'Bearer realm="kim-hub-metrics"'})
        return PlainTextResponse(generate_latest().decode(), media_type=CONTENT_TYPE_LATEST)

    return app


_ETAG = re.compile(r'^(?:W/)?"?(\d+)"?$')


def etag(version: int) -> str:
    return f'"{version}"'


def parse_if_match(value: str | None) -> int | None:
    """The stream version a client last saw, from an If-Match header ('"3"', 'W/"3"' or '3')."""
    if value is None:
        return None
    match = _ETAG.match(value.strip())
    if not match:
        raise HTTPException(422, detail=f"If-Match must be the ETag you received, like \"3\"; got {value!r}")
    return int(match.group(1))
