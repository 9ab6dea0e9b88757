"""Settings shared by every service: read from the environment with the KIM_ prefix."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, ClassVar, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .topics import ANCHOR_TOPIC, PARTNER_RETENTION_MS
from .types import KREIS_UNNA_MUNICIPALITIES


# The public dev-only default of KIM_SERVICE_TOKEN_SECRET (tests in KIM_ENV=dev sign service tokens with it)
DEV_SERVICE_TOKEN_SECRET = "dev-only-service-token-secret-change-me!!"


class InsecureSettings(ValueError):
    """A secret still has its public dev-only default outside KIM_ENV=dev."""


class RuntimeSettings(BaseSettings):
    """Each service subclasses this and sets its own defaults (service name, HTTP port, database)."""

    # secrets whose defaults are public (in this repository): only KIM_ENV=dev may run with them
    dev_default_secrets: ClassVar[tuple[str, ...]] = ("auth_secret", "service_token_secret")

    model_config = SettingsConfigDict(env_prefix="KIM_", extra="ignore")

    service: str = Field(default="runtime", description="Service name: cases, staffing, referrals or reporting")
    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/postgres", description="The service's own PostgreSQL database"
    )
    migration_database_url: str | None = Field(
        default=None, description="The store owner's URL, for migrations only; the service then connects with its "
                                  "own role (KIM_DATABASE_URL), which may not rewrite events (unset: one role)")
    kafka_bootstrap: str = Field(default="127.0.0.1:9092", description="Kafka bootstrap servers")
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: str | None = None
    kafka_replication_factor: int = Field(default=1, ge=1, description="Replicas of a topic a service creates")
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    auth_secret: str = Field(default="dev-only-secret-change-me-in-production!!", description="HS256 secret that signs bearer tokens")
    service_token_secret: str = Field(
        default=DEV_SERVICE_TOKEN_SECRET,
        description="HS256 secret of the service tokens only (role service: the referrals service's reads of consent "
                    "decisions and consented person data, the reporting service's sealing keys); shared among the "
                    "four services and nobody else, never KIM_AUTH_SECRET: who signs users' or partners' tokens "
                    "(kim partner onboard) cannot sign a service's")
    log_level: str = "INFO"
    log_format: Literal["auto", "json", "text"] = Field(
        default="auto", description="json: one JSON object per line (service, trace, correlation and event ids); "
                                    "text: a readable line; auto: text on a terminal, json otherwise")
    log_repeat_interval_s: float = Field(
        default=30, ge=0, description="The Kafka client's repeated warnings (a broker away): one line per interval")
    db_pool_size: int = 10
    consumer_max_attempts: int = Field(default=3, ge=1, description="Handling attempts before dead-lettering")
    consumer_fetch_max_wait_ms: int = Field(
        default=5000, ge=0, le=30_000,
        description="How long an empty Kafka fetch waits on the broker (a long poll: a record that arrives is returned "
                    "at once, and a rebalance cancels the fetch, so this does not delay delivery; an idle consumer asks "
                    "every 5 s instead of twice a second)")
    consumer_group_prefix: str = Field(
        default="kim", pattern=r"^[A-Za-z0-9._-]+$",
        description="Consumer groups are <prefix>-<service>-<handler>; a second deployment on one broker needs its own",
    )
    relay_batch_size: int = Field(default=500, ge=1)
    partner_topic_retention_ms: int = Field(
        default=PARTNER_RETENTION_MS, ge=3_600_000,
        description="How long a partner topic keeps a record (default 30 days): a referral purged after that is "
                    "gone from the topic too; partners must read within it")
    relay_lease_s: float = Field(
        default=5.0, ge=1.0, le=300.0,
        description="Outbox relay lease: a follower takes over this long after its leader died (renewed every fifth)",
    )
    scheduler_max_sleep_s: float = Field(
        default=300.0, gt=0, le=3600,
        description="Longest sleep of the deadline worker between looks (it wakes at the next due time and on every "
                    "new or moved deadline anyway; this only bounds a lost notification)")
    scheduler_retry_s: float = Field(
        default=60.0, gt=0, description="A deadline whose handler failed is tried again after this, doubling")
    idempotency_ttl_s: float = Field(
        default=86400, ge=60, description="How long an Idempotency-Key and its stored answer are kept (default 24 h): "
                                          "a retry within it returns the first answer; expired keys are pruned")
    idempotency_lease_s: float = Field(
        default=60, ge=1, description="A request still in flight with its Idempotency-Key after this long (its process "
                                      "died) may be taken over by a retry, unless its effect was already applied")
    env: Literal["production", "dev"] = Field(
        default="production", description="dev: secrets such as the key-encryption key and the audit signing key "
                                          "may be missing (public dev-only ones are used)")
    audit_signing_key: SecretStr | None = Field(
        default=None, description="Ed25519 key (base64 of 32 bytes) that signs the store's anchors "
                                  "(`kim audit keygen`); never in the database")
    audit_signing_key_file: Path | None = Field(default=None, description="A file holding the audit signing key")
    audit_anchor_interval_s: float = Field(
        default=300, gt=0, description="Seconds between anchors of the store (none is written when nothing changed)")
    audit_anchor_dir: Path | None = Field(
        default=None, description="Folder of the append-only file <service>.jsonl every anchor is also written to "
                                  "(default: the topic only)")
    audit_anchor_topic: str = Field(default=ANCHOR_TOPIC, description="The topic anchors go to")

    @field_validator("audit_signing_key", "audit_signing_key_file", "audit_anchor_dir", "migration_database_url",
                     mode="before")
    @classmethod
    def _empty_is_unset(cls, value):
        return None if value == "" else value

    def refuse_public_defaults(self) -> None:
        """Outside dev, a secret left at its public default would let anyone sign tokens (or compute pseudonyms)."""
        if self.service_token_secret == self.auth_secret:
            raise InsecureSettings("KIM_SERVICE_TOKEN_SECRET equals KIM_AUTH_SECRET: whoever signs users' or partners' "
                                   "tokens could sign a service's; set a secret of its own (openssl rand -hex 32)")
        if self.env == "dev":
            return
        public = [name for name in self.dev_default_secrets
                  if getattr(self, name) == type(self).model_fields[name].default]
        if public:
            names = ", ".join(f"KIM_{n.upper()}" for n in public)
            raise InsecureSettings(f"{names} still has the public dev-only default: set a secret of your own "
                                   "(openssl rand -hex 32); only KIM_ENV=dev runs with it")

    def audit_anchor_file(self) -> Path | None:
        return self.audit_anchor_dir / f"{self.service}.jsonl" if self.audit_anchor_dir else None
    municipalities: Annotated[tuple[str, ...], NoDecode] = Field(
        default=KREIS_UNNA_MUNICIPALITIES,
        description="The AGS codes of the county's municipalities (comma-separated); any other is refused (422)",
    )

    @field_validator("municipalities", mode="before")
    @classmethod
    def _split(cls, value):
        return tuple(v.strip() for v in value.split(",") if v.strip()) if isinstance(value, str) else value

    @field_validator("municipalities")
    @classmethod
    def _ags(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [v for v in value if not (len(v) == 8 and v.isascii() and v.isdigit())]
        if bad or not value:
            raise ValueError(f"municipalities must be 8-digit AGS codes; got {', '.join(bad) or 'none'}")
        return value

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
