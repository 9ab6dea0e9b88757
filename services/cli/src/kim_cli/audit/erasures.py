"""`kim audit erasures`: the erasures recorded in the cases store, for an auditor proving each request was honoured."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable

from kim_cli.audit import audit_log
from kim_cli.audit.connect import open_store

COLUMNS = ("erased_at", "actor", "reason", "ground", "request_reference", "client_id", "key_id", "stream_version")

_ERASURES = """
SELECT e.data->>'erased_at' AS erased_at, e.metadata->>'actor' AS actor,
       coalesce(e.data->>'reason', 'antrag') AS reason, e.data->>'ground' AS ground,
       coalesce(r.request_reference, e.data->>'request_reference') AS request_reference,
       e.data->>'client_id' AS client_id, e.data->>'key_id' AS key_id, e.version AS stream_version
FROM events e LEFT JOIN erasure_requests r ON r.client_id = e.data->>'client_id'
WHERE e.type = 'kim.cases.ClientErased' ORDER BY e.position
"""
# the request's reference: from erasure_requests since ClientErased v2 (contract 6.0.0), from the event before


async def erasure_rows(say: Callable[[str], None], token: str) -> list[dict]:
    """The erasures, after the cases service recorded their reading in the audit stream under the caller's token."""
    pool = await open_store("cases", say)
    if pool is None:
        return []
    try:
        async with pool.acquire() as conn:
            rows = [dict(r) for r in await conn.fetch(_ERASURES)]
        await audit_log.record(token, "erasures", "kim audit erasures",
                               {"list": "erasures", "erasures": len(rows), "destination": "stdout"})
        return rows
    finally:
        await pool.close()


def render_erasures(rows: list[dict], fmt: str) -> str:
    if fmt == "json":
        return json.dumps({"erasures": rows}, ensure_ascii=False, indent=2) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue()
    if not rows:
        return "no erasures recorded\n"
    lines = [f"{len(rows)} erasure(s):"]
    for r in rows:
        lines.append(f"  {r['erased_at']}  by {r['actor'] or '-'}  {r['reason']}  ground {r['ground'] or '(not recorded)'}  "
                     f"request {r['request_reference'] or '(not recorded)'}  client {r['client_id']}  "
                     f"key {r['key_id']} destroyed")
    return "\n".join(lines) + "\n"
