"""What `kim audit` records about itself, recorded by the cases service (POST /audit/records), never by the CLI.

Each read of a client's data lands in the client's access log (stream access-<client>, GET /clients/{id}/reads) and
each answer or export in stream ``audit-<YYYY-MM-DD>`` (type ``kim.audit.TrailExported``; data names the case and
the client, the format, where it went and an export's SHA-256) in the cases store. The cases service appends both
under the caller's verified token and seals them with its writer seal (kim_runtime.anchor), as every event it
writes; the CLI holds no signing key, so it cannot write a record `kim audit verify` would accept, and neither can
an insider with the database alone (kim_cli.audit.store_checks: [unsealed]).

Recorded before the output is written: if the service cannot be reached or refuses, nothing is shown (exit 2).
Where the cases service is: KIM_CASES_URL (default http://127.0.0.1:8001, `make run`'s).
"""

from __future__ import annotations

import os

import httpx

from kim_cli.audit.connect import UserError

DEFAULT_URL = "http://127.0.0.1:8001"
EXPORTED = "kim.audit.TrailExported"


def cases_url() -> str:
    return (os.environ.get("KIM_CASES_URL") or DEFAULT_URL).rstrip("/")


async def record(token: str, command: str, via: str, answer: dict, *, client_id: str | None = None,
                 fields: list[str] | tuple[str, ...] = ()) -> dict:
    """Have the cases service record the answer (and the client's read, when it shows a client's data); its reply
    names the stream versions it wrote. UserError when it cannot: nothing may be shown then."""
    body = {"command": command, "via": via, "client_id": client_id, "fields": sorted(set(fields)),
            "answer": answer}
    url = cases_url()
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            r = await http.post("/audit/records", json=body, headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError as exc:
        raise UserError(f"cannot reach the cases service at {url} to record this read ({exc.__class__.__name__}: "
                        f"{exc}); nothing was shown. Start it (`make run`) or set KIM_CASES_URL") from None
    if r.status_code != 201:
        raise UserError(f"the cases service at {url} did not record this read ({r.status_code}: {r.text[:300]}); "
                        "nothing was shown") from None
    return r.json()
