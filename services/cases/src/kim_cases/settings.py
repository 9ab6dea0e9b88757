"""Settings of the cases service (environment, KIM_ prefix; KIM_CASES_* wins over the shared names)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict
from kim_runtime.settings import RuntimeSettings
from kim_schemas.case_codes import ClosureReason


class CasesSettings(RuntimeSettings):
    model_config = SettingsConfigDict(env_prefix="KIM_", extra="ignore", populate_by_name=True)

    service: str = "cases"
    http_port: int = Field(default=8001, validation_alias=AliasChoices("KIM_CASES_HTTP_PORT", "KIM_HTTP_PORT"))
    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/kim_cases",
        validation_alias=AliasChoices("KIM_CASES_DATABASE_URL", "KIM_DATABASE_URL"),
        description="The cases service's own PostgreSQL database (events, outbox, client keys, read models)")
    master_key: SecretStr | None = Field(
        default=None, description="Key-encryption keys that wrap the clients' data keys: ID:KEY[,ID:KEY...], "
                                  "current first (`kim keys generate`)")
    master_key_file: Path | None = Field(
        default=None, description="A file holding the key-encryption keys instead (one ID:KEY per line)")

    retention_years: int = Field(
        default=3, ge=1, le=30,
        description="Years after the closure of a client's last case until their key is destroyed (ClientErased, "
                    "reason aufbewahrungsfrist), unless a legal hold is in force")
    retention_years_by_reason: Annotated[dict[ClosureReason, int], NoDecode] = Field(
        default_factory=dict,
        description="Other periods per closure reason, `reason=years,...` (e.g. `wegzug=1,einwilligung_widerrufen=1`)")

    @field_validator("retention_years_by_reason", mode="before")
    @classmethod
    def _reason_years(cls, value):
        if not isinstance(value, str):
            return value
        pairs = [p.split("=", 1) for p in value.split(",") if p.strip()]
        if any(len(p) != 2 for p in pairs):
            raise ValueError("expected reason=years,... (e.g. wegzug=1)")
        return {k.strip(): int(v) for k, v in pairs}

    @field_validator("retention_years_by_reason")
    @classmethod
    def _plausible_years(cls, value: dict) -> dict:
        bad = [f"{k}={v}" for k, v in value.items() if not 1 <= v <= 30]
        if bad:
            raise ValueError(f"retention years must lie in 1..30: {', '.join(bad)}")
        return value

    def retention_years_for(self, reason: ClosureReason) -> int:
        return self.retention_years_by_reason.get(reason, self.retention_years)

    @field_validator("master_key", "master_key_file", mode="before")
    @classmethod
    def _empty_is_unset(cls, value):
        return None if value == "" else value
