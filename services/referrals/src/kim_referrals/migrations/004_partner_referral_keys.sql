-- The partner snapshots' keys (crypto-shredding per referral): one AES-256 key per partner referral, stored only
-- wrapped under the referrals service's KEK (60 bytes: nonce, key, tag). A revocation deletes the row in the
-- transaction that records it, so the snapshots already on the partner's topic open for no one from then on.
-- Mutable on purpose: this is the one table where deleting a row is the point.
CREATE TABLE IF NOT EXISTS partner_referral_keys (
    partner_referral_id text PRIMARY KEY,
    organisation_id text NOT NULL,
    key_id text NOT NULL UNIQUE,
    kek_id text NOT NULL,
    wrapped bytea NOT NULL CHECK (length(wrapped) = 60),
    created_at timestamptz NOT NULL DEFAULT now()
);
