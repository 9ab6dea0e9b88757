"""Logs, metrics and the HTTP span through FastAPI's test client and an in-memory span exporter (no I/O)."""

from __future__ import annotations

import io
import json
import logging

import pytest
from fastapi import Depends, Request
from fastapi.testclient import TestClient
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY

from kim_runtime import logs, telemetry
from kim_runtime.auth import Principal, Role, issue_token
from kim_runtime.envelope import Envelope
from kim_runtime.http import create_app
from kim_runtime.policy import authorize

SECRET = "unit-test-secret-of-at-least-32-bytes!"
ADMIN = {"Authorization": f"Bearer {issue_token(SECRET, Principal(sub='u1', role=Role.ADMIN))}"}


@pytest.fixture(scope="module")
def spans() -> InMemorySpanExporter:
    """The process's tracer provider, once (OpenTelemetry allows one), with an exporter the tests read."""
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        telemetry.setup_tracing("unit")
        provider = trace.get_tracer_provider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


def client() -> TestClient:
    app = create_app("t", auth_secret=SECRET)

    @app.get("/clients/{client_id}")
    async def read(client_id: str, who: Principal = Depends(authorize("staffing.read"))):
        logging.getLogger("kim_test").warning("looked at a client")
        return {"traceparent": telemetry.current_traceparent()}

    return TestClient(app)


def test_a_request_continues_the_callers_trace_and_names_the_route_not_the_path(spans):
    spans.clear()
    trace_id, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    r = client().get("/clients/cl-4711", headers=ADMIN | {"traceparent": f"00-{trace_id}-{parent}-01"})
    assert r.status_code == 200 and r.json()["traceparent"].startswith(f"00-{trace_id}-")
    server = next(s for s in spans.get_finished_spans() if s.kind is trace.SpanKind.SERVER)
    assert server.name == "GET /clients/{client_id}" and server.parent.span_id == int(parent, 16)
    assert server.attributes["http.route"] == "/clients/{client_id}"
    assert "cl-4711" not in json.dumps(dict(server.attributes)) + server.name


def test_the_access_log_names_the_route_never_the_path(spans, caplog):
    with caplog.at_level(logging.INFO, logger="kim.access"):
        client().get("/clients/cl-4711", headers=ADMIN)
    lines = [r.getMessage() for r in caplog.records if r.name == "kim.access"]
    assert len(lines) == 1 and lines[0].startswith("GET /clients/{client_id} 200 ")
    assert "cl-4711" not in caplog.text


def test_a_correlation_id_is_given_when_missing_and_echoed_when_sent(spans):
    c = client()
    given = c.get("/clients/x", headers=ADMIN).headers["x-correlation-id"]
    assert len(given) == 36
    assert c.get("/clients/x", headers=ADMIN | {"X-Correlation-ID": "corr-77"}).headers["x-correlation-id"] == "corr-77"
    bad = c.get("/clients/x", headers=ADMIN | {"X-Correlation-ID": "no spaces allowed"})
    assert bad.status_code == 422 and "x-correlation-id" not in bad.headers


def test_request_durations_are_a_histogram_per_route_template_and_status(spans):
    def count(route: str, status: str) -> float:
        return REGISTRY.get_sample_value("kim_http_request_duration_seconds_count", {
            "service": telemetry.service_name(), "method": "GET", "route": route, "status": status}) or 0.0

    before = count("/clients/{client_id}", "200"), count("/clients/{client_id}", "401"), count("unmatched", "404")
    c = client()
    c.get("/clients/a", headers=ADMIN)
    c.get("/clients/b", headers=ADMIN)
    c.get("/clients/c")
    c.get("/nothing-here")
    after = count("/clients/{client_id}", "200"), count("/clients/{client_id}", "401"), count("unmatched", "404")
    assert [a - b for a, b in zip(after, before, strict=True)] == [2, 1, 1]


def test_metrics_need_the_scrape_token_when_one_is_set(monkeypatch):
    assert client().get("/metrics").status_code == 200
    monkeypatch.setenv("KIM_METRICS_TOKEN", "scrape-secret")
    c = client()
    assert c.get("/metrics").status_code == 401
    assert c.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    r = c.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
    assert r.status_code == 200 and "kim_http_request_duration_seconds_bucket" in r.text


def test_every_counter_follows_prometheus_naming():
    import kim_runtime.consumer  # noqa: F401 (registers the consumer's metrics)
    import kim_runtime.service  # noqa: F401 (and the relay's)

    counters = [m for m in REGISTRY.collect() if m.type == "counter" and m.name.startswith("kim_")]
    assert {"kim_consumer_events_handled", "kim_relay_leaderships", "kim_events_published", "kim_deadlines_fired",
            "kim_deadlines_failed"} <= {
        m.name for m in counters}
    for metric in counters:  # prometheus_client strips _total from a counter's family name, adds it to samples
        assert all(s.name.endswith(("_total", "_created")) for s in metric.samples), metric.name
    gauges = {m.name for m in REGISTRY.collect() if m.type == "gauge"}
    assert not {"kim_events_handled", "kim_relay_leaderships", "kim_outbox_pending", "kim_deadlines_fired"} & gauges


def _log_line(fmt: str, record_setup=None) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonLines("cases") if fmt == "json" else logs.TextLines("cases"))
    log = logging.getLogger(f"kim_test_{fmt}")
    log.handlers[:] = [handler]
    log.propagate = False
    event, correlation = logs.EVENT_ID.set("ev-1"), logs.CORRELATION_ID.set("corr-1")
    try:
        with telemetry.span("unit"):
            trace_id, _ = telemetry.ids()
            log.warning("handled %s", "CaseOpened")
    finally:
        logs.EVENT_ID.reset(event)
        logs.CORRELATION_ID.reset(correlation)
    return stream.getvalue(), trace_id


def test_json_lines_carry_service_trace_correlation_and_event_ids(spans):
    text, trace_id = _log_line("json")
    line = json.loads(text)
    assert line["message"] == "handled CaseOpened" and line["level"] == "WARNING"
    assert (line["service"], line["trace_id"], line["correlation_id"], line["event_id"]) == (
        "cases", trace_id, "corr-1", "ev-1")
    text, trace_id = _log_line("text")
    assert f"trace_id={trace_id} correlation_id=corr-1 event_id=ev-1" in text


def test_the_kafka_clients_repeated_warnings_are_held_back():
    now = [0.0]
    hold = logs.HoldRepeats(30, clock=lambda: now[0])

    def record(name="aiokafka.conn", msg="Unable connect to %s"):
        return logging.LogRecord(name, logging.WARNING, __file__, 1, msg, ("127.0.0.1:9092",), None)

    passed = []
    for second in range(32):  # a broker away for 32 s: aiokafka warns ~100 times a second
        now[0] = float(second)
        passed += [r for r in (record() for _ in range(100)) if hold.filter(r)]
    assert len(passed) == 2  # the first, then one after 30 s saying how many were held back
    assert "2999 more like it" in passed[1].getMessage()
    assert hold.filter(record(name="kim_runtime.outbox"))  # our own loggers are never held back
    assert hold.filter(record(msg="another message"))  # nor another kind of message


def test_a_stored_event_carries_the_trace_but_one_for_a_partner_topic_does_not(spans):
    from kim_runtime.store import stored_metadata

    event = Envelope(type="kim.cases.CaseOpened", source="/kim/cases", stream_id="case-1")
    with telemetry.span("request"):
        service, partner = stored_metadata(event, "kim.cases"), \
            stored_metadata(event, "kim.partner.jobcenter-kreis-unna")
        internal = stored_metadata(event, None)
    assert service["traceparent"].startswith("00-") and internal["traceparent"] == service["traceparent"]
    assert "traceparent" not in partner
    given = event.model_copy(update={"traceparent": service["traceparent"]})
    assert "traceparent" not in stored_metadata(given, "kim.partner.caritas-unna")


def test_the_partner_api_adopts_no_trace_or_correlation_id_and_returns_none(spans):
    """The stranger's probe: a partner's own traceparent and X-Correlation-ID reached kim.referrals verbatim, and
    the correlation id returned to it equalled ce_correlationid there: ids a partner could link with."""
    app = create_app("t", auth_secret=SECRET)
    seen = {}

    @app.post("/partner/referrals")
    async def accept(request: Request, who: Principal = Depends(authorize("partner.inbox"))):
        seen.update(correlation=request.headers.get("x-correlation-id"), trace=telemetry.current_traceparent())
        return {}

    jobcenter = Principal(sub="jc", role=Role.PARTNER, organisation="jc")
    partner = {"Authorization": f"Bearer {issue_token(SECRET, jobcenter)}"}
    trace_id = "feedfacefeedfacefeedfacefeedface"
    r = TestClient(app).post("/partner/referrals", headers=partner | {
        "X-Correlation-ID": "partner-chosen-id", "traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"})
    assert "x-correlation-id" not in r.headers
    assert seen["correlation"] and seen["correlation"] != "partner-chosen-id"
    assert trace_id not in seen["trace"]
