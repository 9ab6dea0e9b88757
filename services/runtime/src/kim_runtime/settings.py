"""Settings shared by every service: read from the environment with the KIM_ prefix."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class RuntimeSettings(BaseSettings):
    """Each service subclasses this and sets its own defaults (service name, HTTP port, database)."""

    model_config = SettingsConfigDict(env_prefix="KIM_", extra="ignore")

    service: str = Field(default="runtime", description="Service name: cases, staffing, referrals or reporting")
    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/postgres", description="The service's own PostgreSQL database"
    )
    kafka_bootstrap: str = Field(default="127.0.0.1:9092", description="Kafka bootstrap servers")
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: str | None = None
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    auth_secret: str = Field(default="dev-only-secret-change-me-in-production!!", description="HS256 secret that signs bearer tokens")
    log_level: str = "INFO"
    db_pool_size: int = 10
    consumer_max_attempts: int = Field(default=3, ge=1, description="Handling attempts before dead-lettering")
    consumer_fetch_max_wait_ms: int = Field(default=5, ge=0, description="Kafka fetch wait: low for near real time")
    consumer_group_prefix: str = Field(
        default="kim", pattern=r"^[A-Za-z0-9._-]+$",
        description="Consumer groups are <prefix>-<service>-<handler>; a second deployment on one broker needs its own",
    )
    relay_batch_size: int = Field(default=500, ge=1)

    def kafka_options(self) -> dict:
        """Connection options for aiokafka/faststream (SASL only when configured)."""
        opts: dict = {"security_protocol": self.kafka_security_protocol}
        if self.kafka_sasl_mechanism:
            opts |= {
                "sasl_mechanism": self.kafka_sasl_mechanism,
                "sasl_plain_username": self.kafka_sasl_username,
                "sasl_plain_password": self.kafka_sasl_password,
            }
        return opts
