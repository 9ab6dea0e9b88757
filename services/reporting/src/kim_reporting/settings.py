"""The reporting service's settings (environment, prefix KIM_)."""

from __future__ import annotations

from pydantic import Field

from kim_runtime.settings import RuntimeSettings


class ReportingSettings(RuntimeSettings):
    service: str = "reporting"
    http_port: int = 8004
    database_url: str = Field(default="postgresql://postgres@127.0.0.1:5432/kim_reporting",
                              description="The reporting service's own PostgreSQL database")
    topic_suffix: str = Field(default="", description="Appended to every topic read and written (test isolation)")
    max_periods: int = Field(default=120, ge=1, description="Most periods one indicator request may span")
