"""Settings of the referrals service (environment, KIM_ prefix; KIM_REFERRALS_* wins over the shared names)."""

from __future__ import annotations

from typing import ClassVar

from kim_runtime.settings import RuntimeSettings
from kim_runtime.crypto import Kek
from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict


class ReferralSettings(RuntimeSettings):
    model_config = SettingsConfigDict(env_prefix="KIM_", extra="ignore", populate_by_name=True)

    dev_default_secrets: ClassVar[tuple[str, ...]] = (*RuntimeSettings.dev_default_secrets, "pseudonym_secret")

    service: str = "referrals"
    http_port: int = Field(default=8003, validation_alias=AliasChoices("KIM_REFERRALS_HTTP_PORT", "KIM_HTTP_PORT"))
    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/kim_referrals",
        validation_alias=AliasChoices("KIM_REFERRALS_DATABASE_URL", "KIM_DATABASE_URL"),
        description="The referrals service's own PostgreSQL database (events, outbox, consent gate, read models)",
    )
    pseudonym_secret: str = Field(
        default="dev-only-pseudonym-secret-change-me!!",
        description="HMAC secret of every per-partner id: client pseudonyms and the referral, consent, correlation "
                    "and causation ids on partner topics (KIM_PSEUDONYM_SECRET); keep it stable and secret",
    )
    cases_url: str = Field(
        default="http://127.0.0.1:8001", validation_alias=AliasChoices("KIM_REFERRALS_CASES_URL", "KIM_CASES_URL"),
        description="Where the referrals service reaches the cases service's internal path for the consented "
                    "personal data a partner asks for (GET /partner/referrals/{id}/person)",
    )
    partner_credential_cache_seconds: float = Field(
        default=5.0, ge=0, validation_alias=AliasChoices("KIM_REFERRALS_PARTNER_CREDENTIAL_CACHE_SECONDS"),
        description="How long the current API credential of a partner is cached per organisation; a rotation on this "
                    "process takes effect at once, on another replica within this time (0: look it up every request)",
    )
    public_url: str = Field(
        default="http://127.0.0.1:8003", validation_alias=AliasChoices("KIM_REFERRALS_PUBLIC_URL"),
        description="The address partners reach this service's partner API at: the base of the versioned schema "
                    "URLs in each partner record's ce_dataschema",
    )
    partner_token_days: int = Field(
        default=365, ge=1, le=3650,
        description="How long a partner's API token (kim partner onboard / rotate) is valid (KIM_PARTNER_TOKEN_DAYS)",
    )
    partner_kek: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("KIM_REFERRALS_PARTNER_KEK"),
        description="The key-encryption key of the partner snapshots' per-referral keys, `ID:KEY` (KEY: 32 random "
                    "bytes in base64); unset: derived from KIM_PSEUDONYM_SECRET (HKDF-SHA256, id `pseudonym-hkdf`). "
                    "To change it: set the new one in KIM_REFERRALS_PARTNER_KEK_NEW, run `kim keys rotate --service "
                    "referrals`, then move it here (deploy/README.md, \"Partner snapshot keys\")",
    )
    partner_kek_new: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("KIM_REFERRALS_PARTNER_KEK_NEW"),
        description="A rotation's new KEK (`ID:KEY`, an id other than the current one's): while it is set, the "
                    "service wraps new snapshot keys under it and still opens those under KIM_REFERRALS_PARTNER_KEK, "
                    "and `kim keys rotate --service referrals` re-wraps the rest to it; afterwards it becomes "
                    "KIM_REFERRALS_PARTNER_KEK and this is unset",
    )

    def partner_key_kek(self) -> Kek:
        """The KEK under KIM_REFERRALS_PARTNER_KEK (else derived from the pseudonym secret): a rotation's old one."""
        if self.partner_kek is not None and self.partner_kek.get_secret_value().strip():
            return Kek.parse(self.partner_kek.get_secret_value(), "KIM_REFERRALS_PARTNER_KEK")
        from .adapters.referral_keys import derived_kek
        return derived_kek(self.pseudonym_secret)

    def partner_key_kek_new(self) -> Kek | None:
        """A rotation's new KEK (KIM_REFERRALS_PARTNER_KEK_NEW), None when no rotation is under way; ValueError when
        it reuses the id of the current KEK with another key (the wrapped keys name their KEK by id)."""
        if self.partner_kek_new is None or not self.partner_kek_new.get_secret_value().strip():
            return None
        new, old = Kek.parse(self.partner_kek_new.get_secret_value(), "KIM_REFERRALS_PARTNER_KEK_NEW"), \
            self.partner_key_kek()
        if new.kek_id == old.kek_id and new.key != old.key:
            raise ValueError(f"KIM_REFERRALS_PARTNER_KEK_NEW: its id {new.kek_id!r} is the current KEK's; give the new "
                             "KEK an id of its own (`kim keys generate`)")
        return new

    def partner_key_keks(self) -> tuple[Kek, ...]:
        """The KEKs the service holds: the one new keys are wrapped under first (the new one during a rotation)."""
        old, new = self.partner_key_kek(), self.partner_key_kek_new()
        return (old,) if new is None or new.kek_id == old.kek_id else (new, old)
