"""The reporting service's settings (environment, KIM_ prefix; KIM_REPORTING_* wins over the shared names)."""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from kim_runtime.settings import RuntimeSettings


class ReportingSettings(RuntimeSettings):
    model_config = SettingsConfigDict(env_prefix="KIM_", extra="ignore", populate_by_name=True)

    service: str = "reporting"
    http_port: int = Field(default=8004, validation_alias=AliasChoices("KIM_REPORTING_HTTP_PORT", "KIM_HTTP_PORT"))
    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/kim_reporting",
        validation_alias=AliasChoices("KIM_REPORTING_DATABASE_URL", "KIM_DATABASE_URL"),
        description="The reporting service's own PostgreSQL database (report events, outbox, projections)",
    )
    topic_suffix: str = Field(default="", validation_alias=AliasChoices("KIM_REPORTING_TOPIC_SUFFIX"),
                              description="Appended to every topic read and written (test isolation only)")
    cases_url: str = Field(
        default="http://127.0.0.1:8001", validation_alias=AliasChoices("KIM_REPORTING_CASES_URL", "KIM_CASES_URL"),
        description="The cases service, which gives each client's sealing key (GET /internal/clients/{id}/sealing-key)")
    max_periods: int = Field(default=120, ge=1, validation_alias=AliasChoices("KIM_REPORTING_MAX_PERIODS"),
                             description="Most periods one indicator request may span")
