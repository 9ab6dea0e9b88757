"""Settings of the cases service (environment, KIM_ prefix; KIM_CASES_* wins over the shared names)."""

from __future__ import annotations

from pathlib import Path
from pydantic import AliasChoices, Field, SecretStr, field_validator
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
    master_key: SecretStr | None = Field(
        default=None, description="Key-encryption keys that wrap the clients' data keys: ID:KEY[,ID:KEY...], "
                                  "current first (`kim keys generate`)")
    master_key_file: Path | None = Field(
        default=None, description="A file holding the key-encryption keys instead (one ID:KEY per line)")

    @field_validator("master_key", "master_key_file", mode="before")
    @classmethod
    def _empty_is_unset(cls, value):
        return None if value == "" else value
