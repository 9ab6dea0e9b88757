"""The web app's settings (environment, KIM_ prefix; KIM_WEB_HTTP_PORT wins over KIM_HTTP_PORT).

The web app holds no data and no secret: it calls the four services with the signed-in user's token. Where the
services are is all it needs to know.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class WebSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KIM_", extra="ignore", populate_by_name=True)

    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8005, validation_alias=AliasChoices("KIM_WEB_HTTP_PORT", "KIM_HTTP_PORT"))
    cases_url: str = Field(default="http://127.0.0.1:8001", validation_alias=AliasChoices("KIM_WEB_CASES_URL"),
                           description="Base URL of the cases service")
    staffing_url: str = Field(default="http://127.0.0.1:8002",
                              validation_alias=AliasChoices("KIM_WEB_STAFFING_URL"))
    referrals_url: str = Field(default="http://127.0.0.1:8003",
                               validation_alias=AliasChoices("KIM_WEB_REFERRALS_URL"))
    reporting_url: str = Field(default="http://127.0.0.1:8004",
                               validation_alias=AliasChoices("KIM_WEB_REPORTING_URL"))
    demo_tokens_file: Path | None = Field(
        default=None, validation_alias=AliasChoices("KIM_WEB_DEMO_TOKENS_FILE"),
        description="Development only: a JSON file of demo sign-ins ([{label, who, token}]) offered on the sign-in "
                    "page; `kim run` writes one. Never set it in production.")
    secure_cookies: bool | None = Field(
        default=None, validation_alias=AliasChoices("KIM_WEB_SECURE_COOKIES"),
        description="Mark cookies Secure; default: when the request came over https")
    proxy_sign_in: bool = Field(
        default=False, validation_alias=AliasChoices("KIM_WEB_PROXY_SIGN_IN"),
        description="Take the token from the Authorization header that an authenticating reverse proxy of the "
                    "county's identity provider adds to every request (only behind such a proxy)")
    api_timeout_s: float = Field(default=15.0, gt=0, validation_alias=AliasChoices("KIM_WEB_API_TIMEOUT_S"))
    log_level: str = "INFO"

    def service_urls(self) -> dict[str, str]:
        return {"cases": self.cases_url, "staffing": self.staffing_url, "referrals": self.referrals_url,
                "reporting": self.reporting_url}
