"""`kim audit case`: gather, open (or mark erased), render, record the export, then hand back the text."""

from __future__ import annotations

import json
from contextlib import AsyncExitStack
from dataclasses import replace
from datetime import datetime

from kim_cases.public import HEALTH, mentions_health
from kim_runtime.topics import SERVICES

from kim_cli.audit import audit_log, render
from kim_cli.audit.as_of import state_as_of
from kim_cli.audit.connect import UserError, open_store
from kim_cli.audit.exports import export_hash
from kim_cli.audit.personal import Opener, client_key
from kim_cli.audit.trail import client_of, collect


AUDIT_RECORDS = "the audit log's own records (reads and exports of this trail): GET /clients/{id}/reads"


def _audit_record(e) -> bool:
    """A record of reading or exporting the trail (the access log, kim audit's own): left out of an export, so
    exporting the same trail twice gives the same bytes."""
    return e.stream_id.startswith("access-") or e.type.startswith("kim.audit.")


async def case_report(case_id: str, *, fmt: str, as_of: datetime | None, reveal: bool, token: str,
                      destination: str, say, by: str = "recorded",
                      export: bool = False) -> tuple[str, dict | None]:
    """The text of the trail (or of the state at `as_of`), and for an export the service's signature of its
    SHA-256. `export`: deterministic for a file that is signed."""
    async with AsyncExitStack() as stack:
        stores = {}
        for service in SERVICES:
            pool = await open_store(service, say)
            if pool is not None:
                stack.push_async_callback(pool.close)
                stores[service] = pool
        cases = stores.get("cases")
        if cases is None:
            raise UserError("the cases service has no event store to read the case from: start it (`make run`)")
        client_id = await client_of(cases, case_id)
        if client_id is None:
            raise UserError(f"no case {case_id} in the cases store: check the id (GET /cases on the cases service "
                            f"lists them)")
        trail = await collect(stores, case_id, client_id)
        if export:
            trail = [e for e in trail if not _audit_record(e)]
        opener = Opener(client_id, await client_key(cases, client_id, reveal=reveal), reveal=reveal)
        if as_of is not None:
            state = shown = state_as_of(case_id, client_id, trail, as_of, opener, by)
            text = {"json": lambda: json.dumps(state, indent=2, ensure_ascii=False, default=str) + "\n",
                    "csv": lambda: render.state_csv(state), "table": lambda: render.state_table(state)}[fmt]()
        else:
            trail = [replace(e, data=opener.data(e.data)) for e in trail]
            shown = [e.data for e in trail]
            header = {"case_id": case_id, "client_id": client_id, "client_erased": opener.erased,
                      "services": list(stores)} | ({"leaves_out": AUDIT_RECORDS} if export else {})
            text = {"json": lambda: render.trail_json(header, trail) + "\n", "csv": lambda: render.trail_csv(trail),
                    "table": lambda: render.trail_table(header, trail, fixed=export)}[fmt]()
        if mentions_health(shown):  # health in clear (opened, or a version 1 event's plain list): named in the read
            opener.read.add(HEALTH)
        answer = ({"case_id": case_id, "client_id": client_id, "format": fmt,
                   "as_of": as_of.isoformat() if as_of else None, "events": len(trail), "destination": destination}
                  | ({"by": by} if as_of else {}) | ({"sha256": export_hash(text)} if export else {}))
        # every read is recorded first, by the cases service under the token (if that fails, nothing is shown): the
        # fields shown in clear, or "trail" when all personal data stayed withheld (the trail is still the
        # client's casework)
        via = "kim audit case --show-personal" if reveal else "kim audit case"
        recorded = await audit_log.record(token, "case", via, answer, client_id=client_id,
                                          fields=sorted(opener.read) or ["trail"])
        return text, recorded.get("export_signature")
