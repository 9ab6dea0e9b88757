-- The KEKs of the partner snapshot keys that a referrals service has held, recorded at each start by id and verifier
-- (HMAC-SHA256 of a fixed label under the KEK: it reveals nothing of the key). `kim keys rotate --service referrals`
-- re-wraps only to a KEK a service holds, with the key it holds under that id (deploy/README.md, "Partner snapshot
-- keys"), so the running service can always open what the rotation writes.
CREATE TABLE IF NOT EXISTS partner_key_encryption_keys (
    kek_id text PRIMARY KEY,
    verifier bytea NOT NULL,
    first_held_at timestamptz NOT NULL DEFAULT now(),
    last_held_at timestamptz NOT NULL DEFAULT now()
);
