"""The referrals service's one call to the cases service: the personal data a consent shares with a partner.

The cases service holds the clients' keys; the referrals service never stores personal data. On a partner's request
it asks the cases service's internal path with a short-lived service token (role service, sub kim-referrals), naming
the case, the consent, the partner, the purpose and the categories; the cases service checks the consent again,
decrypts, and records the read in the client's access log with the partner as the reader.
"""

from __future__ import annotations

import httpx
from kim_runtime.auth import REFERRALS_SERVICE, service_token
from kim_runtime.errors import Gone, Unavailable


class CasesClient:
    def __init__(self, base_url: str, auth_secret: str, transport: httpx.AsyncBaseTransport | None = None):
        self.base_url, self.auth_secret, self.transport = base_url, auth_secret, transport

    async def consented_person(self, *, case_id: str, consent_id: str, recipient: str, purpose: str,
                               categories: list[str], reference: str, correlation_id: str) -> dict:
        headers = {"Authorization": f"Bearer {service_token(self.auth_secret, REFERRALS_SERVICE)}",
                   "X-Correlation-ID": correlation_id}
        params = {"consent_id": consent_id, "recipient": recipient, "purpose": purpose, "categories": categories,
                  "reference": reference}
        try:
            async with httpx.AsyncClient(base_url=self.base_url, transport=self.transport, timeout=10) as client:
                r = await client.get(f"/internal/cases/{case_id}/consented-person", params=params, headers=headers)
        except httpx.HTTPError:
            raise Unavailable("the cases service, which holds the personal data, cannot be reached; retry shortly",
                              retry_after_s=10) from None
        if r.status_code == 410:
            body = r.json()
            raise Gone(f"the personal data is no longer shared with you: {body.get('detail')}",
                       reason=body.get("reason", "sonstiges"), referral_id=reference)
        if r.status_code != 200:
            raise Unavailable(f"the cases service refused the read ({r.status_code})", status=502)
        return r.json()
