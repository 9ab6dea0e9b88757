"""A trail (or a state) as a table, JSON or CSV."""

from __future__ import annotations

import csv
import io
import json
import shutil
from typing import Any

from kim_cli.audit.trail import Entry

CSV_FIELDS = ("time", "service", "stream_id", "version", "type", "actor", "caused_by", "causation_id",
              "correlation_id", "event_id", "data")


def _row(e: Entry) -> dict[str, Any]:
    return {"time": e.time.isoformat(), "service": e.service, "stream_id": e.stream_id, "version": e.version,
            "type": e.type, "actor": e.actor, "caused_by": e.caused_by, "causation_id": e.causation_id,
            "correlation_id": e.correlation_id, "event_id": e.event_id, "data": e.data}


def trail_json(header: dict, trail: list[Entry]) -> str:
    return json.dumps({**header, "events": [_row(e) for e in trail]}, indent=2, ensure_ascii=False, default=str)


def trail_csv(trail: list[Entry]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_FIELDS)
    writer.writeheader()
    for e in trail:
        writer.writerow({**_row(e), "data": json.dumps(e.data, ensure_ascii=False, sort_keys=True, default=str)})
    return out.getvalue()


def _compact(data: dict, width: int) -> str:
    text = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False, default=str)}" for k, v in data.items()
                     if k not in ("case_id",))
    return text if len(text) <= width else text[: width - 1] + "…"


def trail_table(header: dict, trail: list[Entry], *, fixed: bool = False) -> str:
    """`fixed`: 160 columns whatever the terminal (an export must not depend on the window it was made in)."""
    width = 160 if fixed else max(100, shutil.get_terminal_size((160, 20)).columns)
    lines = [f"case {header['case_id']} (client {header['client_id']}{', erased' if header['client_erased'] else ''})"
             f": {len(trail)} events across {', '.join(header['services'])}"]
    cols = [("when", 25), ("service", 9), ("stream", 36), ("v", 3), ("what", 22), ("who", 14)]
    lines.append("  ".join(name.ljust(w) for name, w in cols) + "  caused by")
    for e in trail:
        cells = [e.time.isoformat(timespec="seconds"), e.service, e.stream_id, str(e.version), e.short_type(),
                 e.actor or "-"]
        lines.append("  ".join(c[:w].ljust(w) for c, (_, w) in zip(cells, cols, strict=True)) + "  "
                     + (e.caused_by or "-"))
        lines.append(" " * 8 + _compact(e.data, width - 8))
    return "\n".join(lines) + "\n"


def state_table(state: dict) -> str:
    by = " by business date" if state.get("by") == "business" else ""
    lines = [f"case {state['case_id']} as of {state['as_of']}{by}: version {state['version']}, last event "
             f"{state['last_event']} at {state['last_event_at']} ({state['folded_by']})"]
    for key, value in state["state"].items():
        lines.append(f"  {key}: {json.dumps(value, ensure_ascii=False, default=str)}")
    return "\n".join(lines) + "\n"


def state_csv(state: dict) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["field", "value"])
    for key in ("case_id", "as_of", "by", "version", "last_event", "last_event_at", "folded_by"):
        writer.writerow([key, state[key]])
    for key, value in state["state"].items():
        writer.writerow([key, value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)])
    return out.getvalue()
