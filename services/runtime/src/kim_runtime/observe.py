"""What every HTTP request leaves for ops: a server span, a request-duration histogram per route, a correlation id.

The middleware is the outermost layer of every service's app (kim_runtime.http.create_app):
- it continues the caller's W3C `traceparent` (or starts a trace) in a SERVER span named `<METHOD> <route>`;
- it observes `kim_http_request_duration_seconds{service, method, route, status}`; `route` is the path template
  (`/cases/{case_id}`), never the path itself, so no id reaches the metrics and their labels stay few;
  a path no route matched is counted as `unmatched`;
- it writes the access log line (`POST /cases/{case_id}/closure 200 12.3 ms`): the route template, never the path,
  so no client, case or referral id reaches the logs (uvicorn's own access log, which writes the path, is off);
- it gives the request a correlation id when the caller sent none (the services read `X-Correlation-ID`, so every
  event of the action carries the same one) and returns it in the response's `X-Correlation-ID`; log lines of the
  request carry it.

The partner API (`/partner/...`) is a boundary: a partner's `traceparent` and `X-Correlation-ID` are not adopted
(the action gets a trace and a correlation id of its own) and neither is returned, because both end up on the
service topics (`ce_traceparent`, `ce_correlationid`), which a partner must not be able to link to its own records.
"""

from __future__ import annotations

import logging
import re
import time

from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import Histogram

from . import logs, telemetry
from .envelope import new_id
from .types import ID_PATTERN

access = logging.getLogger("kim.access")
HTTP_DURATION = Histogram(
    "kim_http_request_duration_seconds", "HTTP requests by route and status, from arrival to the last byte sent",
    ["service", "method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
_ID = re.compile(ID_PATTERN)
PARTNER_API = "/partner/"
_CORRELATION = b"x-correlation-id"
_TRACEPARENT = b"traceparent"


def _header(headers, name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _route(scope) -> str:
    route = scope.get("route")
    return getattr(route, "path", None) or "unmatched"


class Observed:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        partner = scope["path"].startswith(PARTNER_API)
        given = None if partner else _header(scope["headers"], _CORRELATION)
        if given is None:
            given = new_id()
            kept = [(k, v) for k, v in scope["headers"] if k.lower() not in (_CORRELATION, _TRACEPARENT) or not partner]
            scope = dict(scope, headers=[*kept, (_CORRELATION, given.encode())])
        correlation = given if _ID.match(given) and len(given) <= 100 else None  # else CleanInput answers 422
        echoed = None if partner else correlation
        method, status, started = scope["method"], 500, time.perf_counter()

        async def sending(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if echoed:
                    message = dict(message, headers=[*message.get("headers", []), (_CORRELATION, echoed.encode())])
            await send(message)

        token = logs.CORRELATION_ID.set(correlation)
        try:
            with telemetry.span(method, kind=SpanKind.SERVER, parent=_header(scope["headers"], _TRACEPARENT),
                                attributes={"http.request.method": method}) as span:
                try:
                    await self.app(scope, receive, sending)
                finally:
                    route = _route(scope)
                    span.update_name(f"{method} {route}")
                    span.set_attributes({"http.route": route, "http.response.status_code": status})
                    if status >= 500:
                        span.set_status(Status(StatusCode.ERROR))
                    took = time.perf_counter() - started
                    HTTP_DURATION.labels(telemetry.service_name(), method, route, str(status)).observe(took)
                    access.info("%s %s %d %.1f ms", method, route, status, took * 1000)
        finally:
            logs.CORRELATION_ID.reset(token)
