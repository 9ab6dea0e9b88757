"""The runtime's safety net for bad input: checks every request before a route sees it.

- `CleanInput` (ASGI middleware): a NUL byte or invalid UTF-8 in the path, the query or the body, a lone surrogate
  or NUL in a JSON string (escaped as \\u0000 / \\ud800), a body over 1 MiB, or an X-Correlation-ID that is not an
  id, answers 422 (413 for the size) naming where, before routing.
- It also wraps each request in the service's municipalities (app.state.municipalities, set by ServiceRuntime from
  KIM_MUNICIPALITIES), which kim_runtime.types.Municipality validates against.
- `check_parameters` (app-wide FastAPI dependency): every path parameter is an id, and query parameters are checked
  by name (kim_runtime.types.QUERY_PARAMETERS), so no route needs to repeat it.
Both answer as an RFC 9457 problem (kim_runtime.problems): 422 (413) with `errors`, one entry per refused field.
"""

from __future__ import annotations

import json
import re
from contextlib import nullcontext
from urllib.parse import unquote_to_bytes

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError
from starlette.responses import JSONResponse

from . import problems
from .types import ID_PATTERN, OTHER_QUERY_PARAMETER, PATH_PARAMETER, QUERY_PARAMETERS, municipalities_served

MAX_BODY = 1 << 20
_ID = re.compile(ID_PATTERN)
_CORRELATION = b"x-correlation-id"


def invalid(errors: list[dict], status_code: int = 422, instance: str | None = None) -> JSONResponse:
    return problems.invalid(errors, status_code, instance=instance)


def _error(field: str, message: str, kind: str) -> dict:
    return {"field": field, "message": message, "type": kind}


def _bytes_problem(raw: bytes, field: str) -> dict | None:
    if b"\x00" in raw:
        return _error(field, "must not contain a NUL byte", "nul_byte")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _error(field, f"must be UTF-8 (byte {exc.start} is not)", "invalid_utf8")
    return None


def _path_problem(scope) -> dict | None:
    raw = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
    for segment in raw.split(b"?", 1)[0].split(b"/"):
        problem = _bytes_problem(unquote_to_bytes(segment), "path")
        if problem:
            shown = segment.decode("ascii", "backslashreplace")
            return problem | {"message": f"segment {shown!r}: {problem['message']}"}
    return None


def _query_problems(scope) -> list[dict]:
    problems = []
    for pair in scope.get("query_string", b"").replace(b";", b"&").split(b"&"):
        name, _, value = pair.partition(b"=")
        name, value = unquote_to_bytes(name.replace(b"+", b" ")), unquote_to_bytes(value.replace(b"+", b" "))
        field = "query." + name.decode("utf-8", "replace").replace("\x00", "\\x00")
        problem = _bytes_problem(name, field) or _bytes_problem(value, field)
        if problem:
            problems.append(problem)
    return problems


def _header_problem(scope) -> dict | None:
    for name, value in scope.get("headers", ()):
        if name.lower() == _CORRELATION and not _ID.match(value.decode("latin-1")):
            return _error("header.X-Correlation-ID", "must be an id (ASCII letters, digits, _ . : @ -, at most 100)",
                          "string_pattern_mismatch")
    return None


MAX_JSON_DEPTH = 32  # the deepest request model nests 4 levels; a deeper document is an attack on the parser


def _too_deep() -> list[dict]:
    return [_error("body", f"must not nest objects and arrays more than {MAX_JSON_DEPTH} levels deep", "too_deep")]


def _json_problems(value, loc: tuple) -> list[dict]:
    """NUL bytes and lone surrogates in the strings (and keys) of a parsed JSON document; nesting too deep."""
    if len(loc) > MAX_JSON_DEPTH:
        return _too_deep()
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _json_problems(k, (*loc, k)) + _json_problems(v, (*loc, k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _json_problems(v, (*loc, i))]
    if not isinstance(value, str):
        return []
    field = ".".join(str(p) for p in loc) or "body"
    if "\x00" in value:
        return [_error(field, "must not contain a NUL byte", "nul_byte")]
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return [_error(field, "must not contain a lone surrogate (\\ud800-\\udfff without its pair)", "invalid_utf8")]
    return []


def _body_problems(body: bytes, content_type: bytes) -> list[dict]:
    problem = _bytes_problem(body, "body")
    if problem:
        return [problem]
    if b"json" not in content_type.lower():
        return []
    try:
        document = json.loads(body)
    except ValueError:
        return []  # FastAPI answers invalid JSON itself
    except RecursionError:  # thousands of nested brackets: the parser itself gives up
        return _too_deep()
    problems = _json_problems(document, ())
    return _too_deep() if any(p["type"] == "too_deep" for p in problems) else problems


class CleanInput:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        problems = [p for p in (_path_problem(scope), _header_problem(scope)) if p] + _query_problems(scope)
        if not problems and scope["method"] in ("POST", "PUT", "PATCH", "DELETE"):
            body, disconnected = await read_body(receive)
            if body is None:
                return await invalid([_error("body", f"must be at most {MAX_BODY} bytes", "too_large")], 413)(
                    scope, receive, send)
            content_type = dict(scope.get("headers", ())).get(b"content-type", b"")
            problems = _body_problems(body, content_type)
            receive = replay_body(body, disconnected, receive)
        if problems:
            return await invalid(problems)(scope, receive, send)
        codes = getattr(getattr(scope.get("app"), "state", None), "municipalities", None)
        with municipalities_served(codes) if codes else nullcontext():
            await self.app(scope, receive, send)


async def read_body(receive) -> tuple[bytes | None, bool]:
    """The whole body (None when over MAX_BODY) and whether the client went away meanwhile."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks), True
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None, False
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), False


def replay_body(body: bytes, disconnected: bool, receive):
    """A `receive` that hands the buffered body to the app once, then what the client sends next."""
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        if disconnected:
            return {"type": "http.disconnect"}
        return await receive()

    return replay


def _errors(adapter: TypeAdapter, value: str, loc: tuple) -> list[dict]:
    try:
        adapter.validate_python(value)
    except ValidationError as exc:
        return [{**e, "loc": (*loc, *e["loc"])} for e in exc.errors(include_url=False, include_input=False)]
    return []


async def check_parameters(request: Request) -> None:
    """Path parameters are ids; query parameters have the type their name says (kim_runtime.types)."""
    errors = []
    for name, value in request.path_params.items():
        errors += _errors(PATH_PARAMETER, value, ("path", name))
    for name, value in request.query_params.multi_items():
        if value != "":
            errors += _errors(QUERY_PARAMETERS.get(name, OTHER_QUERY_PARAMETER), value, ("query", name))
    if errors:
        raise RequestValidationError(errors)
