"""Tracing across HTTP, the event store, the outbox relay and Kafka (OpenTelemetry, W3C trace context).

One trace follows a user action through every service: the HTTP request's span (continuing a `traceparent` the
caller sent), the append of its events, the relay's publish of each event, and the handling of that event by every
consumer in every service, whose own appends continue the same trace. The trace context travels inside each event as
the CloudEvents distributed-tracing extension: attribute `traceparent`, Kafka header `ce_traceparent`, stored in the
event's metadata so that the relay (which may run in another replica, later) publishes it.

Partner topics never carry it: one user action can reach several partners, and a shared trace id would let them link
their pseudonymous records (issue 13), so an event bound for a partner topic is stored without one.

Spans hold no personal data: names are routes and event types, attributes are codes, counts, topics and offsets;
never a client, case or referral id. Spans are exported by OTLP over HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, with the standard `OTEL_*` variables; otherwise they are made (log lines
carry their trace ids) and dropped.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

W3C = TraceContextTextMapPropagator()  # only the trace context: baggage could carry anything across services
TRACER = "kim_runtime"
_configured: str | None = None


def exporting() -> bool:
    return bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def setup_tracing(service: str) -> None:
    """Install this process's tracer provider once (service name `kim-<service>`), exporting when configured."""
    global _configured
    if _configured is not None:
        return
    provider = TracerProvider(resource=Resource.create({"service.name": f"kim-{service}",
                                                        "service.namespace": "kim-hub"}))
    if exporting():
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))  # OTEL_BSP_SCHEDULE_DELAY: 5 s
    trace.set_tracer_provider(provider)
    _configured = service


def service_name() -> str:
    """The service this process runs (set by setup_tracing), for metric labels."""
    return _configured or "unknown"


def shutdown_tracing() -> None:
    """Flush what is still buffered (called when the service stops)."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.force_flush(timeout_millis=5000)


_tracer: trace.Tracer | None = None


def tracer() -> trace.Tracer:
    """This process's tracer, made once its provider is installed (trace.get_tracer makes a new Tracer on each call:
    about 2 % of the cases service's event loop per POST /cases in the issue-18 profile)."""
    global _tracer
    if _tracer is None:
        provider = trace.get_tracer_provider()
        if not isinstance(provider, TracerProvider):  # not installed yet: the API's proxy, asked each time
            return trace.get_tracer(TRACER)
        _tracer = provider.get_tracer(TRACER)
    return _tracer


def current_traceparent() -> str | None:
    """The W3C `traceparent` of the current span (None outside a recording span)."""
    carrier: dict[str, str] = {}
    W3C.inject(carrier)
    return carrier.get("traceparent")


def context_from(traceparent: str | None) -> otel_context.Context | None:
    """The context a stored or received `traceparent` names; None when absent or not valid (W3C: ignore it)."""
    if not traceparent:
        return None
    ctx = W3C.extract({"traceparent": traceparent})
    return ctx if trace.get_current_span(ctx).get_span_context().is_valid else None


@contextlib.contextmanager
def span(name: str, *, kind: SpanKind = SpanKind.INTERNAL, parent: str | None = None,
         attributes: dict | None = None) -> Iterator[Span]:
    """A span, child of `parent` (a traceparent) when given, else of the current span."""
    with tracer().start_as_current_span(name, context=context_from(parent), kind=kind,
                                        attributes=attributes or {}) as current:
        yield current


def ids() -> tuple[str | None, str | None]:
    """(trace id, span id) of the current span as hex, for log lines; (None, None) outside one."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None, None
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")
