"""The partner snapshots' keys: one AES-256 key per partner referral, sealing every snapshot its partner is sent.

A snapshot on kim.partner.<org> carries only the referral id and the version in clear; the rest (a
PartnerReferralSnapshot v2) is sealed under the referral's key, bound to `<referral id>:<version>`. The key lives in
`partner_referral_keys`, wrapped under the service's KEK (KIM_REFERRALS_PARTNER_KEK; bound to the referral and the
key id, so a wrapped key moved onto another row never unwraps); the partner fetches it from the partner API
(GET /partner/referrals/{id}/key). The revocation deletes the row in the transaction that records the revocation:
from then on the API answers 410 and no copy of the snapshots (the topic before compaction, a fresh consumer group,
this service's own store) opens again. The revocation notice and the tombstone are not sealed: they carry no
personal data.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncpg
from kim_runtime import crypto
from kim_schemas.partner import PartnerReferralSealedSnapshot, PartnerReferralSnapshot, SealedSnapshot

ALGORITHM = "AES-256-GCM"
VERIFIER_LABEL = b"kim-hub partner referral key-encryption-key verifier v1"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReferralKey:
    partner_referral_id: str
    key_id: str
    key: bytes = field(repr=False)


def aad(partner_referral_id: str, version: int) -> str:
    """The associated data of a sealed snapshot: it opens only as this referral's snapshot of this version."""
    return f"{partner_referral_id}:{version}"


def seal(snapshot: PartnerReferralSnapshot, key: ReferralKey) -> PartnerReferralSealedSnapshot:
    sealed = crypto.seal(key.key, key.key_id, aad(snapshot.referral_id, snapshot.version),
                         snapshot.model_dump(mode="json"))
    return PartnerReferralSealedSnapshot(referral_id=snapshot.referral_id, version=snapshot.version,
                                         sealed=SealedSnapshot(key_id=sealed.key_id, nonce=sealed.nonce,
                                                               ciphertext=sealed.ciphertext))


def open_snapshot(sealed: PartnerReferralSealedSnapshot, key: ReferralKey) -> PartnerReferralSnapshot:
    """The snapshot inside; crypto.Undecryptable under any other key, referral or version."""
    data = crypto.open_sealed(key.key, aad(sealed.referral_id, sealed.version), sealed.sealed.nonce,
                              sealed.sealed.ciphertext)
    return PartnerReferralSnapshot.model_validate(data)


def derived_kek(pseudonym_secret: str) -> crypto.Kek:
    """The KEK when none is configured (KIM_REFERRALS_PARTNER_KEK unset): HKDF of the pseudonym secret."""
    return crypto.Kek.derived("pseudonym-hkdf", pseudonym_secret, "kim-hub partner referral key-encryption key v1")


def kek_verifier(kek: crypto.Kek) -> bytes:
    """What partner_key_encryption_keys records of a KEK the service holds (never the key)."""
    return crypto.kek_verifier(kek.key, VERIFIER_LABEL)


def _label(partner_referral_id: str, key_id: str) -> str:
    return f"kim-partner-referral-key\x00{partner_referral_id}\x00{key_id}"


def wrap_referral_key(kek: crypto.Kek, partner_referral_id: str, key_id: str, key: bytes) -> bytes:
    """A referral's key wrapped under `kek`, bound to the referral and the key id (60 bytes)."""
    return crypto.wrap_key(kek.key, _label(partner_referral_id, key_id), key)


def unwrap_referral_key(kek: crypto.Kek, partner_referral_id: str, key_id: str, wrapped: bytes) -> bytes:
    """The key `wrap_referral_key` wrapped; crypto.Undecryptable under another KEK, referral or key id."""
    return crypto.unwrap_key(kek.key, _label(partner_referral_id, key_id), wrapped)


class PartnerKeys:
    """The key table (SQL); `ensure` creates a referral's key at its first snapshot, `destroy` deletes it.

    `kek` wraps every new key; `previous` KEKs only unwrap (while `kim keys rotate --service referrals` moves the
    keys wrapped under them to `kek`: deploy/README.md, "Partner snapshot keys")."""

    def __init__(self, kek: crypto.Kek, *previous: crypto.Kek):
        self.kek = kek
        self.keks = {k.kek_id: k for k in (*reversed(previous), kek)}

    async def record_held(self, conn: asyncpg.Connection) -> None:
        """Record at start-up the KEKs this service holds (id and verifier): `kim keys rotate --service referrals`
        re-wraps only to a KEK a service holds. A different key under a recorded id is logged, not recorded: the
        keys wrapped under that id do not open with it."""
        for kek in self.keks.values():
            known = await conn.fetchval(
                "INSERT INTO partner_key_encryption_keys AS k (kek_id, verifier) VALUES ($1, $2) ON CONFLICT (kek_id) "
                "DO UPDATE SET last_held_at = now() WHERE k.verifier = excluded.verifier RETURNING k.verifier",
                kek.kek_id, kek_verifier(kek))
            if known is None:
                log.error("partner snapshot KEK %r here is not the key a referrals service held under that id "
                          "before: keys wrapped under it do not open (KIM_REFERRALS_PARTNER_KEK, or "
                          "KIM_PSEUDONYM_SECRET when it is unset, was changed)", kek.kek_id)

    async def ensure(self, conn: asyncpg.Connection, partner_referral_id: str, organisation_id: str) -> ReferralKey:
        """The referral's key, made (and stored wrapped) if it has none yet."""
        got = await self.of(conn, [partner_referral_id])
        if partner_referral_id in got:
            return got[partner_referral_id]
        key = ReferralKey(partner_referral_id, f"prk-{uuid.uuid4().hex}", crypto.new_key())
        await self._insert(conn, organisation_id, key,
                           wrap_referral_key(self.kek, partner_referral_id, key.key_id, key.key))
        return key

    async def of(self, conn: asyncpg.Connection, partner_referral_ids: Sequence[str]) -> dict[str, ReferralKey]:
        """The keys that still exist of these referrals (a revoked referral's is gone)."""
        out = {}
        for referral_id, key_id, kek_id, wrapped in await self._rows(conn, list(partner_referral_ids)):
            kek = self.keks.get(kek_id)
            if kek is None:
                raise crypto.Undecryptable(f"the key of partner referral {referral_id} is wrapped under KEK "
                                           f"{kek_id!r}; this service holds {', '.join(map(repr, self.keks))}")
            out[referral_id] = ReferralKey(referral_id, key_id,
                                           unwrap_referral_key(kek, referral_id, key_id, bytes(wrapped)))
        return out

    async def destroy(self, conn: asyncpg.Connection, partner_referral_id: str) -> bool:
        """Delete the referral's key (crypto-shredding its snapshots); True if there was one."""
        return await conn.fetchval("DELETE FROM partner_referral_keys WHERE partner_referral_id = $1 "
                                   "RETURNING true", partner_referral_id) or False

    async def forget_feedback(self, conn: asyncpg.Connection, partner_referral_id: str) -> None:
        """On the revocation too: delete the partner's words of every feedback report naming the referral
        (partner_feedback_details; PartnerFeedbackReceived v2 does not carry them)."""
        await conn.execute("DELETE FROM partner_feedback_details WHERE partner_referral_id = $1", partner_referral_id)

    async def _rows(self, conn, ids: list[str]) -> list[tuple]:
        return [tuple(r) for r in await conn.fetch(
            "SELECT partner_referral_id, key_id, kek_id, wrapped FROM partner_referral_keys "
            "WHERE partner_referral_id = ANY($1::text[])", ids)]

    async def _insert(self, conn, organisation_id: str, key: ReferralKey, wrapped: bytes) -> None:
        await conn.execute(
            "INSERT INTO partner_referral_keys (partner_referral_id, organisation_id, key_id, kek_id, wrapped) "
            "VALUES ($1, $2, $3, $4, $5)", key.partner_referral_id, organisation_id, key.key_id, self.kek.kek_id,
            wrapped)


class InMemoryPartnerKeys(PartnerKeys):
    """The same without a database (service-layer unit tests)."""

    def __init__(self, kek: crypto.Kek, *previous: crypto.Kek):
        super().__init__(kek, *previous)
        self.rows: dict[str, tuple] = {}

    async def record_held(self, conn) -> None:
        pass

    async def destroy(self, conn, partner_referral_id: str) -> bool:
        return self.rows.pop(partner_referral_id, None) is not None

    async def forget_feedback(self, conn, partner_referral_id: str) -> None:
        pass  # feedback reports are an HTTP route on the database only

    async def _rows(self, conn, ids: list[str]) -> list[tuple]:
        return [self.rows[i] for i in ids if i in self.rows]

    async def _insert(self, conn, organisation_id: str, key: ReferralKey, wrapped: bytes) -> None:
        self.rows[key.partner_referral_id] = (key.partner_referral_id, key.key_id, self.kek.kek_id, wrapped)
