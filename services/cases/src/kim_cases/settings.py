"""Settings of the cases service (environment, KIM_ prefix; KIM_CASES_* wins over the shared names)."""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict
from kim_runtime.settings import RuntimeSettings


class CasesSettings(RuntimeSettings):
    model_config = SettingsConfigDict(env_prefix="KIM_", extra="ignore", populate_by_name=True)

    service: str = "cases"
    http_port: int = Field(default=8001, validation_alias=AliasChoices("KIM_CASES_HTTP_PORT", "KIM_HTTP_PORT"))
    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/kim_cases",
        validation_alias=AliasChoices("KIM_CASES_DATABASE_URL", "KIM_DATABASE_URL"),
        description="The cases service's own PostgreSQL database (events, outbox, client keys, read models)")
