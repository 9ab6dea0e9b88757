"""Settings of the referrals service (environment variables with the KIM_ prefix)."""

from __future__ import annotations

from kim_runtime.settings import RuntimeSettings
from pydantic import Field


class ReferralSettings(RuntimeSettings):
    service: str = "referrals"
    http_port: int = 8003
    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/kim_referrals", description="The referrals service's database"
    )
    pseudonym_secret: str = Field(
        default="dev-only-pseudonym-secret-change-me!!",
        description="HMAC secret for per-partner client pseudonyms (KIM_PSEUDONYM_SECRET); keep it stable",
    )
