"""`kim audit case`: the cases service answers (and records) its part, the CLI adds the other stores' events, renders,
has an export's hash recorded and signed, then hands back the text.

The cases service opens the client's personal data itself (--show-personal: GET /audit/cases/{case_id}?personal=
true) and records the read before it answers; the CLI holds no KEK and decrypts nothing. The other services' stores
hold nothing encrypted under a client's key; the CLI reads them itself (ids, types, actors and their clear data), and
would show any encrypted value there as "withheld" or "erased"."""

from __future__ import annotations

import json
from contextlib import AsyncExitStack
from datetime import datetime

from kim_runtime.topics import SERVICES

from kim_cli.audit import audit_log, render
from kim_cli.audit.connect import UserError, open_store
from kim_cli.audit.exports import export_hash
from kim_cli.audit.personal import Withholder
from kim_cli.audit.trail import client_of, collect

AUDIT_RECORDS = "the audit log's own records (reads and exports of this trail): GET /clients/{id}/reads"


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
        # the cases service answers its part and records the read (access log and audit stream, sealed) first: if
        # it cannot, nothing is shown
        answer = await audit_log.case_view(token, case_id, {
            "personal": reveal, "at": as_of.isoformat() if as_of else None, "by": by if as_of else None,
            "export": export, "format": fmt, "destination": destination})
        if as_of is not None:
            state = answer["state"]
            text = {"json": lambda: json.dumps(state, indent=2, ensure_ascii=False, default=str) + "\n",
                    "csv": lambda: render.state_csv(state), "table": lambda: render.state_table(state)}[fmt]()
        else:
            withhold = Withholder(answer["client_erased"]).data
            trail = await collect(stores, case_id, client_id, answer["events"], withhold)
            header = {"case_id": case_id, "client_id": client_id, "client_erased": answer["client_erased"],
                      "services": list(stores)} | ({"leaves_out": AUDIT_RECORDS} if export else {})
            text = {"json": lambda: render.trail_json(header, trail) + "\n", "csv": lambda: render.trail_csv(trail),
                    "table": lambda: render.trail_table(header, trail, fixed=export)}[fmt]()
        if not export:
            return text, None
        # the export's hash: recorded in the audit stream and signed by the service (the read itself is recorded)
        recorded = await audit_log.record(token, "case", "kim audit case --export",
                                          {"case_id": case_id, "format": fmt, "destination": destination,
                                           "sha256": export_hash(text)})
        return text, recorded.get("export_signature")
