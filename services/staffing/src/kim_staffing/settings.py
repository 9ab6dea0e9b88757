"""Settings of the staffing service (environment variables with the KIM_ prefix)."""

from __future__ import annotations

from pydantic import Field

from kim_runtime.settings import RuntimeSettings


class StaffingSettings(RuntimeSettings):
    service: str = "staffing"
    http_port: int = 8002
    database_url: str = "postgresql://postgres@127.0.0.1:5432/kim_staffing"
    caseload_limit_per_vza: int = Field(
        default=40, ge=1,
        description="Active cases a full-time (1.0 VZÄ) case manager may carry; part-timers get their share, "
                    "rounded down. Above it CaseloadLimitExceeded goes out (KIM_CASELOAD_LIMIT_PER_VZA)",
    )
