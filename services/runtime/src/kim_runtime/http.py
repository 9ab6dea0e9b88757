"""The HTTP side every service shares: app factory, error mapping, health, readiness, metrics, versions."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable

from asyncpg.exceptions import DataError
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError

from .clean_input import CleanInput, check_parameters, invalid
from .errors import ConcurrencyConflict, NotFound, RuleViolation

log = logging.getLogger(__name__)

ReadinessCheck = Callable[[], Awaitable[None]]


def create_app(title: str, *, auth_secret: str, lifespan=None, readiness: dict[str, ReadinessCheck] | None = None,
               version: str = "0.1.0") -> FastAPI:
    app = FastAPI(title=title, version=version, lifespan=lifespan, dependencies=[Depends(check_parameters)])
    app.add_middleware(CleanInput)
    app.state.auth_secret = auth_secret
    checks = readiness or {}

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

    @app.get("/healthz", tags=["ops"], summary="Liveness: the process answers")
    async def healthz():
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], summary="Readiness: database and Kafka reachable")
    async def readyz():
        results = {}
        for name, check in checks.items():
            try:
                await check()
                results[name] = "ok"
            except Exception as exc:  # report, don't crash: ops need to see which part is down
                results[name] = f"down: {exc}"
        ready = all(v == "ok" for v in results.values())
        return JSONResponse({"ready": ready, "checks": results}, status_code=200 if ready else 503)

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics", response_class=PlainTextResponse)
    async def metrics():
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
