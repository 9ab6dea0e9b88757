"""Settings of the staffing service (environment, KIM_ prefix; KIM_STAFFING_* wins over the shared names)."""

from __future__ import annotations

from kim_runtime.settings import RuntimeSettings
from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict


class StaffingSettings(RuntimeSettings):
    model_config = SettingsConfigDict(env_prefix="KIM_", extra="ignore", populate_by_name=True)

    service: str = "staffing"
    http_port: int = Field(default=8002, validation_alias=AliasChoices("KIM_STAFFING_HTTP_PORT", "KIM_HTTP_PORT"))
    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/kim_staffing",
        validation_alias=AliasChoices("KIM_STAFFING_DATABASE_URL", "KIM_DATABASE_URL"),
        description="The staffing service's own PostgreSQL database (events, outbox, read models)")
    caseload_limit_per_vza: int = Field(
        default=40, ge=1,
        description="Active cases a full-time (1.0 VZÄ) case manager may carry; part-timers get their share, "
                    "rounded down. Above it CaseloadLimitExceeded goes out (KIM_CASELOAD_LIMIT_PER_VZA)",
    )
