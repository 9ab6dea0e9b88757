"""Ids as one partner sees them, so that no two partners (and no service topic) share a value they could join on.

Every id on a partner's topic and in the partner API is derived from the internal id with HMAC-SHA256 under the
pseudonym secret, keyed by the kind of id and the partner's organisation id: the same referral, consent, client or
user action looks different to every partner, one partner cannot recover the internal id, and the referrals
service can always derive the same value again (the derivation is deterministic).
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass


def client_pseudonym(secret: str, client_id: str, organisation_id: str) -> str:
    """The client's pseudonym for one partner (this format is kept: partners already hold these values)."""
    digest = hmac.new(secret.encode(), f"{organisation_id}\x1f{client_id}".encode(), hashlib.sha256).hexdigest()
    return f"ps-{digest[:32]}"


def derived_uuid(secret: str, kind: str, organisation_id: str, value: str) -> str:
    """A UUID (version 8: custom) made of the first 128 bits of HMAC-SHA256(secret, kind ␟ organisation ␟ value)."""
    message = f"{kind}\x1f{organisation_id}\x1f{value}".encode()
    raw = bytearray(hmac.new(secret.encode(), message, hashlib.sha256).digest()[:16])
    raw[6] = (raw[6] & 0x0F) | 0x80  # version 8
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 9562 variant
    return str(uuid.UUID(bytes=bytes(raw)))


@dataclass(frozen=True)
class PartnerIds:
    """The derivations for one partner organisation."""

    secret: str
    organisation_id: str

    def client(self, client_id: str) -> str:
        return client_pseudonym(self.secret, client_id, self.organisation_id)

    def referral(self, referral_id: str) -> str:
        return derived_uuid(self.secret, "referral", self.organisation_id, referral_id)

    def consent(self, consent_id: str) -> str:
        return derived_uuid(self.secret, "consent", self.organisation_id, consent_id)

    def correlation(self, correlation_id: str) -> str:
        return derived_uuid(self.secret, "correlation", self.organisation_id, correlation_id)

    def causation(self, causation_id: str) -> str:
        return derived_uuid(self.secret, "causation", self.organisation_id, causation_id)
