"""Field types shared by all events: ids, codes of public registers, decimals on the wire, encrypted data.

Decimals (money, VZÄ) travel as JSON strings such as ``"1.5"`` so no reader loses precision to floats.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, PlainSerializer, StringConstraints, WithJsonSchema

_DECIMAL_PATTERN = r"^[0-9]+(\.[0-9]+)?$"

Id = Annotated[str, StringConstraints(min_length=1, max_length=100)]
"""An opaque id (UUID or similar). Ids of people are pseudonyms: they never contain names."""

OrganisationId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")]
"""A partner organisation's id; it is also the suffix of its topic kim.partner.<organisation id>."""

Ags = Annotated[str, StringConstraints(pattern=r"^[0-9]{8}$")]
"""Amtlicher Gemeindeschlüssel (8 digits), e.g. 05978024 for Lünen; 05978000 stands for the Kreis Unna itself."""

LanguageCode = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}$")]
"""ISO 639-1 (two letters) or ISO 639-3 (three letters) language code, e.g. de, ar, uk, prs."""

FILE_NUMBER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9/._-]{0,39}$"
FileNumber = Annotated[str, StringConstraints(pattern=FILE_NUMBER_PATTERN)]
"""A file number (Aktenzeichen) such as DSGVO-2026-0042 or 32.1/17-2026: 1 to 40 letters, digits and / . _ -, no
spaces, so a name with a date of birth does not fit in it (what it refers to may still be a person's file: it is
never published in clear)."""

Timestamp = AwareDatetime
"""An instant with its UTC offset, ISO 8601 (e.g. 2025-03-01T09:30:00+01:00)."""


def _decimal(description: str) -> object:
    return WithJsonSchema({"type": "string", "pattern": _DECIMAL_PATTERN, "description": description})


Vza = Annotated[
    Decimal,
    Field(ge=0, max_digits=7, decimal_places=3),
    PlainSerializer(str, return_type=str, when_used="json"),
    _decimal("Full-time equivalents (VZÄ) as a decimal string, e.g. \"0.5\" or \"19.5\""),
]
Money = Annotated[
    Decimal,
    Field(ge=0, max_digits=14, decimal_places=2),
    PlainSerializer(str, return_type=str, when_used="json"),
    _decimal("An amount in euro as a decimal string with at most two decimals, e.g. \"56000.00\""),
]
Figure = Annotated[
    Decimal,
    Field(ge=0),
    PlainSerializer(str, return_type=str, when_used="json"),
    _decimal("A non-negative aggregate figure as a decimal string, e.g. \"12\" or \"0.75\""),
]

_BASE64 = r"^[A-Za-z0-9+/]*={0,2}$"
Base64 = Annotated[str, StringConstraints(pattern=_BASE64)]


class Encrypted(BaseModel):
    """Personal data, encrypted with the client's own key (AES-256-GCM).

    The plaintext is a JSON object; only the cases service holds the keys. When a client is erased the key
    is destroyed and the ciphertext can never be read again (crypto-shredding)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key_id: Id = Field(description="Id of the per-client key that encrypts this value (also in header ce_keyid)")
    nonce: Base64 = Field(description="AES-GCM nonce (12 bytes), base64")
    ciphertext: Base64 = Field(description="Ciphertext with the GCM tag appended, base64")
