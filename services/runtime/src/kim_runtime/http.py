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
from fastapi import Depends, FastAPI, Header, Request
from fastapi.encoders import jsonable_encoder
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError

from . import problems
from .clean_input import CleanInput, check_parameters
from .commands import RequestMemo
from .idempotency import Idempotent, KeyLost, claimed_in_append  # noqa: F401 - public here: a route marks itself
from .auth import Principal
from .commands import CommandContext
from .errors import RETRY_AFTER_S, ConcurrencyConflict, KimError, NotRecorded
from .observe import Observed
from .oidc import OidcSettings, TokenVerifier
from .policy import POLICY, authorize, check_routes
from .resilience import UNAVAILABLE_ERRORS, RateLimitedLog, is_unavailable

log = logging.getLogger(__name__)

ReadinessCheck = Callable[[], Awaitable[None]]
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


def command_context(action: str, *, documented: bool = False):
    """A route's dependency: the CommandContext of a caller the policy lets do `action` (401/403/404 otherwise),
    built once per request from the principal and the request's headers (kim_runtime.commands). `documented`: the
    route's OpenAPI operation names X-Correlation-ID and X-Command-ID (at most 100 characters each)."""

    async def dependency(request: Request, principal: Principal = Depends(authorize(action))) -> CommandContext:
        return CommandContext.of_request(principal, request.headers)

    async def documented_dependency(request: Request, principal: Principal = Depends(authorize(action)),
                                    x_correlation_id: str | None = Header(default=None, max_length=100),
                                    x_command_id: str | None = Header(default=None, max_length=100)
                                    ) -> CommandContext:
        return CommandContext.of_request(principal, request.headers)

    return documented_dependency if documented else dependency


def domain_error_handler(unavailable_log: RateLimitedLog):
    """The one mapping of domain errors (kim_runtime.errors) to problem answers: status, type, title and members
    from the error's class; a ConcurrencyConflict is 412 when the caller stated the version it saw (If-Match: a
    stale one is a failed precondition) and 409 without (the command lost a race it could not retry itself)."""

    async def handle(request: Request, exc: KimError):
        status = exc.status
        if isinstance(exc, ConcurrencyConflict) and request.headers.get("if-match") is not None:
            status = 412
        if isinstance(exc, NotRecorded):
            unavailable_log.failed(repr(exc.__cause__), f" ({request.method} {_route_of(request)}: {exc})")
        return problems.response(status, str(exc), instance=request.url.path, headers=exc.headers or None,
                                 type_=problems.problem_type(status, exc.slug) if exc.slug else None,
                                 title=exc.title, **jsonable_encoder(exc.extensions()))

    return handle


def create_app(title: str, *, auth_secret: str, lifespan=None, readiness: dict[str, ReadinessCheck] | None = None,
               version: str = "0.1.0", service_token_secret: str | None = None) -> FastAPI:
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
    app.add_middleware(RequestMemo)  # innermost: what one request read already (commands.request_memo)
    app.add_middleware(Idempotent)  # inside CleanInput: the body it fingerprints was checked and buffered there
    app.add_middleware(CleanInput)
    app.add_middleware(NotFoundFloor)
    app.add_middleware(Observed)  # outermost: span, duration and correlation id cover everything inside
    app.state.auth_secret = auth_secret
    app.state.token_verifier = TokenVerifier(auth_secret, OidcSettings(), service_secret=service_token_secret)
    metrics_token = os.environ.get("KIM_METRICS_TOKEN") or None  # set: Prometheus scrapes with it
    built_openapi = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = built_openapi()
        actions = check_routes(app, document)  # also names each operation's action (x-kim-action)
        problems.document(app, document, {key: POLICY.get(action) for key, action in actions.items()},
                          if_match_required(app))
        document_idempotency_key(document)
        app.openapi_schema = document
        return document

    app.openapi = openapi
    install_error_handlers(app, title)
    install_ops_routes(app, readiness or {}, metrics_token)
    return app


def install_error_handlers(app: FastAPI, title: str) -> None:
    """Every error a request can end in, answered as a problem: FastAPI's and Starlette's own (problems.install),
    an unavailable database (503, Retry-After), the domain errors (one handler), an Idempotency-Key lost to a
    retry, input refused after the request models, a value the database refused."""
    unavailable_log = RateLimitedLog(log, f"{title}: answering 503, the database is unavailable")

    async def _unavailable(request: Request, exc: Exception):
        if not is_unavailable(exc):  # an asyncpg InterfaceError that is a bug, not an outage
            log.error("%s %s failed", request.method, _route_of(request), exc_info=exc)
            return problems.response(500, "internal error", instance=request.url.path)
        unavailable_log.failed(repr(exc), f" ({request.method} {_route_of(request)})")
        return problems.response(503, "the service's database is unavailable; retry shortly",
                                 instance=request.url.path, headers={"Retry-After": str(RETRY_AFTER_S)})

    problems.install(app)
    for error in (*UNAVAILABLE_ERRORS, asyncpg.InterfaceError):
        app.add_exception_handler(error, _unavailable)

    app.add_exception_handler(KimError, domain_error_handler(unavailable_log))

    @app.exception_handler(KeyLost)
    async def _key_lost(request: Request, exc: KeyLost):
        return problems.response(409, f"{exc}: its lease ran out and a retry took it over; nothing was applied",
                                 instance=request.url.path,
                                 type_=problems.problem_type(409, "idempotency-key-in-flight"))

    @app.exception_handler(ValidationError)
    async def _invalid_later(request: Request, exc: ValidationError):
        # input the request models let through but an event or a domain model refused: still the caller's input
        log.warning("%s %s: input refused after the request models: %s", request.method, _route_of(request), exc)
        return problems.invalid([{"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"],
                                  "type": e["type"]} for e in exc.errors(include_url=False, include_input=False)],
                                instance=request.url.path)

    @app.exception_handler(DataError)
    async def _refused_by_database(request: Request, exc: DataError):
        log.warning("%s %s: the database refused a value: %s", request.method, _route_of(request), exc)
        return problems.invalid([{"field": "request", "message": f"the database refused a value: {exc}",
                                  "type": type(exc).__name__}], instance=request.url.path)



def install_ops_routes(app: FastAPI, checks: dict[str, ReadinessCheck], metrics_token: str | None) -> None:
    """/healthz, /readyz (the service's readiness checks) and /metrics (behind KIM_METRICS_TOKEN when set)."""
    public = [Depends(authorize("public"))]

    @app.get("/healthz", tags=["ops"], summary="Liveness: the process answers", dependencies=public)
    async def healthz():
        return {"status": "ok"}

    readiness_schema = {"type": "object", "required": ["ready", "checks"], "properties": {
        "ready": {"type": "boolean"}, "checks": {"type": "object", "additionalProperties": {"type": "string"}}}}

    @app.get("/readyz", tags=["ops"], summary="Readiness: database, Kafka and the outbox relay", dependencies=public,
             responses={200: {"content": {"application/json": {"schema": readiness_schema}}},
                        503: {"description": "Not ready: the checks say which part is down",
                              "content": {"application/json": {"schema": readiness_schema}}}})
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
             dependencies=public, responses={401: {"description": "KIM_METRICS_TOKEN is set and was not sent",
                                                   "content": {problems.MEDIA_TYPE: {"schema": {
                                                       "$ref": "#/components/schemas/Problem"}}}}})
    async def metrics(request: Request):
        if metrics_token and not hmac.compare_digest(request.headers.get("authorization", "").encode(),
                                             f"Bearer {metrics_token}".encode()):
            return problems.response(401, "this service's metrics need its scrape token: send 'Authorization: "
                                          "Bearer <KIM_METRICS_TOKEN>'", instance=request.url.path,
                                     headers={"WWW-Authenticate": 'Bearer realm="kim-hub-metrics"'})
        return PlainTextResponse(generate_latest().decode(), media_type=CONTENT_TYPE_LATEST)



class CsvResponse(PlainTextResponse):
    """A CSV body, documented in OpenAPI as text/csv (use as a route's response_class)."""

    media_type = "text/csv"

    def __init__(self, content, status_code: int = 200, headers=None, media_type: str | None = None, **kwargs):
        super().__init__(content, status_code, headers, media_type or "text/csv; charset=utf-8", **kwargs)


_ETAG = re.compile(r'^(?:W/)?"?(\d+)"?$')


def etag(version: int) -> str:
    return f'"{version}"'


def parse_if_match(value: str | None) -> int | None:
    """The stream version a client last saw, from an If-Match header ('"3"', 'W/"3"' or '3')."""
    if value is None:
        return None
    match = _ETAG.match(value.strip())
    if not match:
        raise problems.Problem(422, f"If-Match must be the ETag you received, like \"3\"; got {value!r}",
                               errors=[{"field": "header.If-Match", "message": "must be an ETag like \"3\"",
                                        "type": "etag"}])
    return int(match.group(1))


def if_match(*, required: bool = False, what: str = "the resource"):
    """A dependency: the stream version the caller last saw, from If-Match (None: not sent). A stale one answers
    412; `required`: a request without one answers 428 (the OpenAPI document then names 428 too)."""
    description = (f'The ETag of {what} you last saw, e.g. "3": a stale one answers 412'
                   + ("; required (428 without)" if required else ""))

    async def dependency(value: str | None = Header(default=None, alias="If-Match", description=description)):
        if value is None and required:
            raise problems.Problem(428, f"send If-Match with the ETag of {what} you reviewed (GET it first): "
                                        "this change must not apply to a version you have not seen")
        return parse_if_match(value)

    dependency.kim_if_match_required = required
    return dependency


def if_match_required(app: FastAPI) -> set[tuple[str, str]]:
    """The operations whose If-Match dependency says it is required."""
    found = set()
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, APIRoute) and any(getattr(d.call, "kim_if_match_required", False)
                                                              for d in _walk(route.dependant.dependencies)):
            found |= {(m, route.path_format) for m in route.methods}
    return found


IDEMPOTENCY_KEY_PARAMETER = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "description": "A unique key per command (e.g. a UUID): a retry with the same key and body gets the first "
                   "answer without a second effect; the same key with another body answers 422, while the first is "
                   "still in flight 409; once what the first request concerned is erased or revoked, 410 (its "
                   "answer is no longer kept). Kept KIM_IDEMPOTENCY_TTL_S (default 24 h).",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
}


def document_idempotency_key(document: dict) -> None:
    """Every POST, PUT and PATCH takes Idempotency-Key (kim_runtime.idempotency): say so in each operation."""
    for item in document.get("paths", {}).values():
        for method, operation in item.items():
            if method in ("post", "put", "patch") and isinstance(operation, dict):
                parameters = operation.setdefault("parameters", [])
                if not any(p.get("name") == "Idempotency-Key" for p in parameters):
                    parameters.append(dict(IDEMPOTENCY_KEY_PARAMETER))


def _walk(dependencies):
    for dep in dependencies:
        yield dep
        yield from _walk(dep.dependencies)


def _route_of(request: Request) -> str:
    """The route template (never the path: it holds client and case ids)."""
    route = request.scope.get("route")
    return getattr(route, "path", None) or "unmatched"
