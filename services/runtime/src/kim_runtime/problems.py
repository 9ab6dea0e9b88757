"""Every error a service answers is an RFC 9457 problem (`application/problem+json`), built here and only here.

A problem has `type` (a URI naming the kind of problem), `title` (the same for every problem of that type), `status`,
`detail` (this occurrence, for a human) and `instance` (the request's path). A 422 also carries `errors`, one entry
per refused field: `{"field": "body.name", "message": ..., "type": ...}`. Extension members carry what a client
needs to recover (409: `stream_id` and `current_version`).

`install(app)` sets the one set of exception handlers every service uses; `document(app, openapi)` writes into each
operation of the OpenAPI document every status it can answer, derived from the route's declared policy action and
its shape (path parameters, body, If-Match), so no route lists its errors by hand.
"""

from __future__ import annotations

import logging
from http import HTTPStatus

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "urn:kim:problem:"

# the type of each status's problems; a status not named here is "about:blank" (its title is the HTTP phrase)
TYPES = {
    400: "bad-request", 401: "unauthenticated", 403: "forbidden", 404: "not-found", 405: "method-not-allowed",
    409: "conflict", 412: "stale-precondition", 413: "too-large", 415: "unsupported-media-type",
    422: "invalid-input", 428: "precondition-required", 500: "internal-error", 503: "unavailable",
}
TITLES = {
    401: "A valid bearer token is required", 403: "Your role may not do this", 404: "Not found",
    409: "Conflict with the resource's current state", 412: "The resource changed since the ETag you sent",
    413: "The request body is too large", 422: "Invalid input", 428: "This request must send If-Match",
    500: "Internal error", 503: "The service is unavailable; retry shortly",
}


class Problem(Exception):
    """Raise anywhere in a request: answered as this problem (status, detail, extension members, headers)."""

    def __init__(self, status: int, detail: str, *, type_: str | None = None, title: str | None = None,
                 headers: dict[str, str] | None = None, **extensions):
        super().__init__(detail)
        self.status, self.detail, self.type, self.title = status, detail, type_, title
        self.headers, self.extensions = dict(headers or {}), extensions


def refused(field: str, message: str) -> Problem:
    """A 422 naming one field (`query.to`, `body.period`), for checks a route makes itself: `raise refused(...)`."""
    return Problem(422, f"invalid input: {field}: {message}",
                   errors=[{"field": field, "message": message, "type": "value_error"}])


def problem_type(status: int, slug: str | None = None) -> str:
    slug = slug or TYPES.get(status)
    return TYPE_BASE + slug if slug else "about:blank"


def body(status: int, detail: str, *, instance: str | None = None, type_: str | None = None,
         title: str | None = None, **extensions) -> dict:
    document = {"type": type_ or problem_type(status),
                "title": title or TITLES.get(status) or HTTPStatus(status).phrase,
                "status": status, "detail": detail}
    if instance:
        document["instance"] = instance
    return document | {k: v for k, v in extensions.items() if v is not None or k in ("current_version",)}


def response(status: int, detail: str, *, instance: str | None = None, headers: dict[str, str] | None = None,
             type_: str | None = None, title: str | None = None, **extensions) -> JSONResponse:
    return JSONResponse(body(status, detail, instance=instance, type_=type_, title=title, **extensions),
                        status_code=status, headers=headers, media_type=MEDIA_TYPE)


def invalid(errors: list[dict], status: int = 422, *, instance: str | None = None) -> JSONResponse:
    """422 (or 413) naming each refused field: errors = [{"field", "message", "type"}]."""
    fields = ", ".join(dict.fromkeys(e["field"] for e in errors))
    return response(status, f"invalid input: {fields}", instance=instance, errors=errors)


def _instance(request: Request) -> str:
    return request.url.path


def install(app: FastAPI) -> None:
    """The handlers for the errors FastAPI and Starlette raise themselves (HTTPException, validation) and for
    `Problem`; the runtime's own errors (kim_runtime.errors) are mapped by kim_runtime.http with these helpers."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem):
        return response(exc.status, exc.detail, instance=_instance(request), headers=exc.headers, type_=exc.type,
                        title=exc.title, **exc.extensions)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        headers = dict(getattr(exc, "headers", None) or {})
        extensions = {}
        if exc.status_code == 422:  # a route's own check of its input: named as a whole
            extensions["errors"] = [{"field": "request", "message": detail, "type": "value_error"}]
        return response(exc.status_code, detail, instance=_instance(request), headers=headers, **extensions)

    @app.exception_handler(HTTPException)
    async def _fastapi_http(request: Request, exc: HTTPException):
        return await _http(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        return invalid([{"field": ".".join(str(p) for p in e["loc"] if p != "body") or "body", "message": e["msg"],
                         "type": e["type"]} for e in exc.errors()], instance=_instance(request))

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception):
        log.error("%s %s failed", request.method, request.scope.get("route") and request.scope["route"].path,
                  exc_info=exc)
        return response(500, "internal error: the failure is logged under this request's correlation id",
                        instance=_instance(request))


# -- the OpenAPI side -----------------------------------------------------------------------------------------------

PROBLEM_SCHEMA = {
    "title": "Problem",
    "type": "object",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "URI naming the kind of problem"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string", "description": "the request's path"},
    },
    "additionalProperties": True,
}
VALIDATION_PROBLEM_SCHEMA = {
    "title": "ValidationProblem",
    "description": "RFC 9457 problem details for invalid input: each refused field in `errors`",
    "allOf": [
        {"$ref": "#/components/schemas/Problem"},
        {"type": "object", "required": ["errors"], "properties": {"errors": {"type": "array", "items": {
            "type": "object", "required": ["field", "message"],
            "properties": {"field": {"type": "string", "description": "where: a body field by its name "
                                                                      "(goals.0.domain), query.<name>, path.<name>, "
                                                                      "header.<name>"},
                           "message": {"type": "string"}, "type": {"type": "string"}}}}}},
    ],
}
DESCRIPTIONS = {
    401: "No valid bearer token", 403: "The token's role may not do this, or the resource is outside its scope",
    404: "Not found (also a resource outside the caller's reach whose existence is personal data)",
    409: "Conflicts with the resource's current state (a domain rule, a concurrent change, an Idempotency-Key "
         "still in flight)",
    412: "If-Match names a version the resource is no longer at", 413: "The request body is over 1 MiB",
    422: "Invalid input; `errors` names each refused field", 428: "This operation must send If-Match",
    500: "Internal error", 503: "The database or the identity provider is unavailable; retry after Retry-After",
}


def _content(status: int) -> dict:
    schema = "ValidationProblem" if status in (413, 422) else "Problem"
    return {MEDIA_TYPE: {"schema": {"$ref": f"#/components/schemas/{schema}"}}}


def statuses(method: str, operation: dict, rule, *, if_match_required: bool = False) -> list[int]:
    """Every error status an operation can answer, from its policy rule and its shape."""
    from .policy import HIDDEN, Resource  # policy imports nothing from here

    found = {422, 500}  # CleanInput refuses a bad query or header on any route; anything can fail
    if rule is None or not rule.public:
        found |= {401, 403, 503}  # 503: the identity provider or the database is down
    params = [p for p in operation.get("parameters", []) if p.get("in") == "path"]
    if params or (rule is not None and rule.resource in HIDDEN):
        found.add(404)
    if method in ("POST", "PUT", "PATCH", "DELETE"):
        found |= {409, 413}
    if any(p.get("in") == "header" and p.get("name", "").lower() == "if-match"
           for p in operation.get("parameters", [])):
        found.add(412)
        if if_match_required:
            found.add(428)
    return sorted(found)


def document(app: FastAPI, openapi: dict, rules: dict[tuple[str, str], object],
             if_match_required: set[tuple[str, str]]) -> dict:
    """Write the problem schemas and each operation's error responses into the document (idempotent)."""
    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    schemas["ValidationProblem"] = VALIDATION_PROBLEM_SCHEMA
    for name in ("HTTPValidationError", "ValidationError"):  # FastAPI's 422 shape, which we never answer
        schemas.pop(name, None)
    for path, item in openapi.get("paths", {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or method.upper() not in ("GET", "POST", "PUT", "PATCH", "DELETE"):
                continue
            key = (method.upper(), path)
            responses = operation.setdefault("responses", {})
            for status in statuses(method.upper(), operation, rules.get(key),
                                   if_match_required=key in if_match_required):
                responses[str(status)] = {"description": DESCRIPTIONS.get(status, HTTPStatus(status).phrase),
                                          "content": _content(status)}
    return openapi
