"""The clients' sealing keys, as the reporting service gets them from the cases service.

The dates and codes of kim.cases events are sealed per client (kim_schemas.sealing). The cases service derives each
client's sealing key from the client's data key (HKDF, info "kim-reporting": it opens the sealed fields, never
personal data) and answers it on GET /internal/clients/{id}/sealing-key to this service's token only. Keys are kept
in this process's memory only (never in the database) and dropped when the client is erased; 410 (the key is
destroyed) means the client's events are skipped and counted (`skipped_erased`), never parked in the dead-letter
topic. An unreachable cases service raises CasesUnreachable (a ConnectionError), which the runtime's consumer retries
with backoff until it answers, holding the partition, as it does while its own database is away.
"""

from __future__ import annotations

import base64

import httpx
from kim_runtime.auth import REPORTING_SERVICE, service_token


class CasesUnreachable(ConnectionError):
    """The cases service did not answer a sealing key. An OSError: the runtime's consumer retries it with backoff
    for as long as it lasts (infrastructure), never dead-letters the event for it."""


class SealingKeys:
    def __init__(self, base_url: str, service_secret: str, transport: httpx.AsyncBaseTransport | None = None):
        self.base_url, self.service_secret, self.transport = base_url, service_secret, transport
        self._keys: dict[str, bytes] = {}
        self.erased: set[str] = set()

    async def __call__(self, client_id: str) -> bytes | None:
        if client_id in self.erased:
            return None
        if client_id in self._keys:
            return self._keys[client_id]
        headers = {"Authorization": f"Bearer {service_token(self.service_secret, REPORTING_SERVICE)}"}
        try:
            async with httpx.AsyncClient(base_url=self.base_url, transport=self.transport, timeout=10) as client:
                r = await client.get(f"/internal/clients/{client_id}/sealing-key", headers=headers)
        except httpx.HTTPError as exc:
            raise CasesUnreachable(f"the cases service ({self.base_url}) gives the sealing keys and cannot be "
                                   f"reached: {exc}") from None
        if r.status_code == 410:
            self.erased.add(client_id)
            return None
        if r.status_code != 200:
            raise CasesUnreachable(f"the cases service refused a client's sealing key ({r.status_code}): check "
                                   "KIM_SERVICE_TOKEN_SECRET and KIM_REPORTING_CASES_URL")  # the retry logs it: no id
        key = base64.b64decode(r.json()["sealing_key"])
        self._keys[client_id] = key
        return key

    def forget(self, client_id: str) -> None:
        """The client was erased: the key is dropped and never asked for again."""
        self._keys.pop(client_id, None)
        self.erased.add(client_id)
