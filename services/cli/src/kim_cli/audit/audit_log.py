"""What `kim audit` records about itself, recorded by the cases service, never by the CLI.

`kim audit case` asks the cases service for the case (GET /audit/cases/{case_id}, `case_view`): the service opens
the client's personal data itself when asked (the CLI holds no KEK and decrypts nothing) and records the read before
it answers. What the CLI reads itself from the stores (never decrypted: the referral, report and position questions,
the list of erasures) and an export's SHA-256 (for its signature) it posts (POST /audit/records, `record`).

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


async def case_view(token: str, case_id: str, params: dict) -> dict:
    """The cases service's answer for `kim audit case`: the cases store's part of the trail (or the state at a
    moment), personal data opened by the service when params["personal"], the read already recorded. UserError when
    it cannot answer: nothing may be shown then."""
    url = cases_url()
    query = {k: ("true" if v is True else "false" if v is False else v) for k, v in params.items() if v is not None}
    try:
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            r = await http.get(f"/audit/cases/{case_id}", params=query,
                               headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError as exc:
        raise UserError(f"cannot reach the cases service at {url}, which answers and records this read "
                        f"({exc.__class__.__name__}: {exc}); nothing was shown. Start it (`make run`) or set "
                        "KIM_CASES_URL") from None
    if r.status_code != 200:
        retry = f" (retry after {r.headers['Retry-After']} s)" if "Retry-After" in r.headers else ""
        detail = _detail(r)
        raise UserError(f"the cases service at {url} did not answer this read ({r.status_code}: {detail}){retry}; "
                        "nothing was shown") from None
    return r.json()


def _detail(r: httpx.Response) -> str:
    try:
        return str(r.json().get("detail"))[:300]
    except ValueError:
        return r.text[:300]
