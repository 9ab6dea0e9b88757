"""Opening a client's encrypted fields for one reader: in clear, "erased" (key destroyed) or "withheld" (role);
and noting special categories (health) a view shows in clear. `finish` records all of it in the client's access log."""

from __future__ import annotations

from typing import Any

from kim_runtime.auth import Principal
from kim_schemas.cases import ARRIVAL_BAND_YEARS, BIRTH_BAND_YEARS, ClientRegistered, year_band
from kim_schemas.codes import LifeDomain
from kim_schemas.types import Encrypted

from kim_cases.adapters import crypto
from kim_cases.adapters.access_log import AccessLog
from kim_cases.adapters.keys import KeyStore
from kim_cases.application.access import PERSONAL_DATA_READERS

PERSONAL_FIELDS = ("name", "date_of_birth", "address", "contact")
PROFILE_FIELDS = ("birth_year", "languages", "arrival_year")
WITHHELD = "withheld"
HEALTH = "gesundheit (Art. 9)"  # what the access log names when a view showed health needs, goals or assessments


def mentions_health(value: Any) -> bool:
    """Whether shown data holds a special category: an assessment or goal in the life domain gesundheit."""
    if isinstance(value, dict):
        return value.get("domain") == LifeDomain.HEALTH.value or any(mentions_health(v) for v in value.values())
    if isinstance(value, list):
        return any(mentions_health(v) for v in value)
    return False


class PersonalReader:
    """One request's view of one client's personal data; `finish` records what was read in clear."""

    def __init__(self, principal: Principal, client_id: str, key: bytes | None, access_log: AccessLog):
        self.principal, self.client_id, self.key, self.access_log = principal, client_id, key, access_log
        self.read: list[str] = []

    @classmethod
    async def for_client(cls, principal: Principal, client_id: str, keys: KeyStore,
                         access_log: AccessLog) -> PersonalReader:
        found = await keys.get(client_id)
        return cls(principal, client_id, found[1] if found else None, access_log)

    def open(self, value: Encrypted | None, label: str) -> dict | str | None:
        """The decrypted object; or "erased" / "withheld" in its place."""
        if value is None:
            return None
        if self.key is None:
            return crypto.ERASED
        if self.principal.role not in PERSONAL_DATA_READERS:
            self.read.append(f"{label} ({WITHHELD})")  # an auditor's look at a client's file is recorded too
            return WITHHELD
        self.read.append(label)
        return crypto.decrypt(self.key, self.client_id, value)

    def quasi(self, value: str | None, label: str) -> str | None:
        """A value kept in clear in the event that still points at the person (the language a consent was explained
        in): shown to those who see personal data, else "withheld"; "erased" once the key is gone. Recorded like
        an opened field."""
        if value is None:
            return None
        if self.key is None:
            return crypto.ERASED
        if self.principal.role not in PERSONAL_DATA_READERS:
            self.read.append(f"{label} ({WITHHELD})")
            return WITHHELD
        self.read.append(label)
        return value

    def personal(self, value: Encrypted | None) -> dict:
        opened = self.open(value, "personal")
        if isinstance(opened, dict):
            return {f: opened.get(f) for f in PERSONAL_FIELDS}
        return dict.fromkeys(PERSONAL_FIELDS, opened)

    def profile(self, registered: ClientRegistered) -> dict:
        """Birth year, languages, arrival year (encrypted since ClientRegistered v2: "erased" / "withheld" like
        the name) and their bands, computed here from the opened years (since ClientRegistered v3 no band is in
        the event: "erased" / "withheld" like the years). Data upcast from v1 has no profile: all empty."""
        opened = self.open(registered.profile, "profile")
        if isinstance(opened, dict):
            return {**{f: opened.get(f) for f in PROFILE_FIELDS},
                    "birth_band": year_band(opened.get("birth_year"), BIRTH_BAND_YEARS),
                    "arrival_band": year_band(opened.get("arrival_year"), ARRIVAL_BAND_YEARS)}
        return dict.fromkeys((*PROFILE_FIELDS, "birth_band", "arrival_band"), opened)

    def notes(self, value: Encrypted | None) -> str | None:
        opened = self.open(value, "notes")
        return opened.get("notes") if isinstance(opened, dict) else opened

    def shown(self, data: Any) -> Any:
        """Data about to be shown in clear (to every role, auditors included): a special category in it is a read
        to record like the name."""
        if mentions_health(data):
            self.read.append(HEALTH)
        return data

    async def finish(self, via: str, correlation_id: str | None = None) -> None:
        if self.read:
            await self.access_log.record(self.principal, self.client_id, self.read, via, correlation_id)
