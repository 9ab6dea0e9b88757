"""The partner credential looked up on every partner request (kim_runtime.auth.check_partner_credential), cached
per organisation for a few seconds instead of one database query per request.

Invalidated by kim.referrals.PartnerCredentialIssued: the process that records it (`kim partner onboard|rotate`)
puts the new credential id in at once, so a rotated token is refused from the next request on; another replica of
the service reads it again within `ttl_s` (KIM_REFERRALS_PARTNER_CREDENTIAL_CACHE_SECONDS). A lookup that started
before the new credential was recorded never overwrites it (a generation per organisation).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable


class PartnerCredentialCache:
    def __init__(self, load: Callable[[str], Awaitable[str | None]], ttl_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic, max_entries: int = 10_000):
        self._load, self._ttl, self._clock, self._max = load, ttl_s, clock, max_entries
        self._entries: dict[str, tuple[str | None, float]] = {}
        self._generation: dict[str, int] = {}

    async def __call__(self, organisation_id: str) -> str | None:
        hit = self._entries.get(organisation_id)
        if hit is not None and self._clock() - hit[1] < self._ttl:
            return hit[0]
        generation = self._generation.get(organisation_id, 0)
        value = await self._load(organisation_id)
        if self._generation.get(organisation_id, 0) == generation:  # no credential issued meanwhile
            self._put(organisation_id, value)
        return self._entries.get(organisation_id, (value, 0.0))[0]

    def issued(self, organisation_id: str, credential_id: str) -> None:
        """A new credential was recorded (PartnerCredentialIssued committed): it is the current one from now on."""
        self._generation[organisation_id] = self._generation.get(organisation_id, 0) + 1
        self._put(organisation_id, credential_id)

    def _put(self, organisation_id: str, value: str | None) -> None:
        if len(self._entries) >= self._max and organisation_id not in self._entries:
            self._entries.clear()  # partners are few; a flood of unknown ids only costs lookups
        self._entries[organisation_id] = (value, self._clock())
