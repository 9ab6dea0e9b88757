"""The referrals service's calls to the cases service: the consent gate's decision, and the personal data a
consent shares with a partner.

When a referral is requested, the cases service (which owns the consents and their dates) decides whether a consent
covers recipient × purpose × categories on the day (GET /internal/cases/{id}/consent-decision); unreachable or
failing, the request answers 503 with Retry-After and nothing is recorded.

The cases service holds the clients' keys; the referrals service never stores personal data. On a partner's request
it asks the cases service's internal path with a short-lived service token (role service, sub kim-referrals), naming
the case, the consent, the partner, the purpose and the categories; the cases service checks the consent again,
decrypts, and records the read in the client's access log with the partner as the reader.
"""

from __future__ import annotations

from datetime import date

import httpx
from kim_runtime.auth import REFERRALS_SERVICE, service_token
from kim_runtime.errors import Gone, Unavailable

from ..domain.consent import GateAnswer


def _unavailable(why: str) -> Unavailable:
    return Unavailable(f"{why}; retry shortly", retry_after_s=10)


class CasesClient:
    def __init__(self, base_url: str, service_secret: str, transport: httpx.AsyncBaseTransport | None = None):
        self.base_url, self.service_secret, self.transport = base_url, service_secret, transport

    def _headers(self, correlation_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {service_token(self.service_secret, REFERRALS_SERVICE)}",
                "X-Correlation-ID": correlation_id}

    async def consent_decision(self, *, case_id: str, recipient: str, purpose: str, categories: list[str], on: date,
                               consent_id: str | None, correlation_id: str) -> GateAnswer:
        params = {"recipient": recipient, "purpose": getattr(purpose, "value", purpose),
                  "categories": [getattr(c, "value", c) for c in categories], "on": on.isoformat()}
        if consent_id is not None:
            params["consent_id"] = consent_id
        try:
            async with httpx.AsyncClient(base_url=self.base_url, transport=self.transport, timeout=10) as client:
                r = await client.get(f"/internal/cases/{case_id}/consent-decision", params=params,
                                     headers=self._headers(correlation_id))
        except httpx.HTTPError:
            raise _unavailable("the cases service, which decides on consents, cannot be reached") from None
        if r.status_code == 404:  # a case the referrals service knows but the cases service does not
            return GateAnswer(False, [f"case {case_id} has no consent recorded"], None)
        if r.status_code != 200:
            raise _unavailable(f"the cases service could not decide on the consent ({r.status_code})")
        body = r.json()
        granted = body["granted"]
        if granted is not None:
            granted = granted | {k: date.fromisoformat(granted[k]) if granted.get(k) else None
                                 for k in ("valid_from", "valid_until")}
        return GateAnswer(body["met"], list(body["reasons"]), granted)

    async def consented_person(self, *, case_id: str, consent_id: str, recipient: str, purpose: str,
                               categories: list[str], reference: str, correlation_id: str) -> dict:
        headers = self._headers(correlation_id)
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
