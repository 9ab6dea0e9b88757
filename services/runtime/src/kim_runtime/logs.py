"""Log lines ops can search: JSON, one object per line, with the service, trace id, correlation id and event id.

`KIM_LOG_FORMAT=json` (the default outside a terminal) writes `{"time", "level", "service", "logger", "message",
"trace_id", "span_id", "correlation_id", "event_id", "error"}`; `text` (the default on a terminal) writes the same
facts as one readable line. Repeated failures of the Kafka client (a broker that is away makes aiokafka log every
reconnect attempt) are rate-limited: the first line of a kind passes, then at most one per
`KIM_LOG_REPEAT_INTERVAL_S` per logger and message template, saying how many were held back.

No library logger writes a URL: httpx logs every request's full URL at INFO (`GET .../internal/cases/<case>/
consented-person?consent_id=..&reference=<referral>`, `.../internal/clients/<client>/sealing-key`) and httpcore
traces each request at DEBUG, so both are held at WARNING whatever KIM_LOG_LEVEL says (QUIET); their failures
still pass. uvicorn's access log (the path) is off (kim_runtime.service.run), kim_runtime.observe logs the route.
aiokafka, faststream and asyncpg log brokers, topics, groups and offsets, never a path or query (checked; the
per-message lines of faststream are at DEBUG, kim_runtime.kafka).
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import threading
import time
from datetime import UTC, datetime

from . import telemetry

CORRELATION_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("kim_correlation_id", default=None)
EVENT_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("kim_event_id", default=None)

# The loggers whose repeats are held back: the Kafka client's own reconnect chatter.
CHATTY = ("aiokafka", "kafka", "faststream")
# Library loggers that name URLs (paths with client, case, consent and referral ids) below WARNING.
QUIET = ("httpx", "httpcore", "urllib3", "uvicorn.access")


def context_fields(service: str) -> dict:
    trace_id, span_id = telemetry.ids()
    fields = {"service": service, "trace_id": trace_id, "span_id": span_id,
              "correlation_id": CORRELATION_ID.get(), "event_id": EVENT_ID.get()}
    return {k: v for k, v in fields.items() if v is not None}


class JsonLines(logging.Formatter):
    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line = {"time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
                "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        line |= context_fields(self.service)
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextLines(logging.Formatter):
    def __init__(self, service: str):
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        extra = context_fields(self.service)
        ids = " ".join(f"{k}={extra[k]}" for k in ("trace_id", "correlation_id", "event_id") if k in extra)
        return super().format(record) + (f" [{ids}]" if ids else "")


class HoldRepeats(logging.Filter):
    """Lets the first record of a (logger, template) pass, then one per interval with the count held back."""

    def __init__(self, interval_s: float, loggers: tuple[str, ...] = CHATTY, clock=time.monotonic):
        super().__init__()
        self.interval_s, self.loggers, self.clock = interval_s, loggers, clock
        self._seen: dict[tuple[str, str], tuple[float, int]] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or not record.name.startswith(self.loggers):
            return True
        key, now = (record.name, str(record.msg)), self.clock()
        with self._lock:
            last, held = self._seen.get(key, (float("-inf"), 0))
            if now - last < self.interval_s:
                self._seen[key] = (last, held + 1)
                return False
            self._seen[key] = (now, 0)
        if held:
            record.msg = f"{record.msg} ({held} more like it in the last {now - last:.0f} s held back)"
        return True


def configure(service: str, *, level: str = "INFO", fmt: str = "auto", repeat_interval_s: float = 30.0) -> None:
    """One handler on the root logger (stderr) for the whole process, uvicorn's loggers included."""
    if fmt == "auto":
        fmt = "text" if sys.stderr.isatty() else "json"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines(service) if fmt == "json" else TextLines(service))
    handler.addFilter(HoldRepeats(repeat_interval_s))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
