-- Issue 13. Consent gate: what was withdrawn is kept beside what was granted, so a refusal can say which.
ALTER TABLE gate_consents ADD COLUMN IF NOT EXISTS withdrawn_recipients text[] NOT NULL DEFAULT '{}';
ALTER TABLE gate_consents ADD COLUMN IF NOT EXISTS withdrawn_categories text[] NOT NULL DEFAULT '{}';

-- Erasure (ClientErased): the client's facts are dropped; requests for them are refused from then on.
ALTER TABLE gate_clients ADD COLUMN IF NOT EXISTS erased_at timestamptz;
CREATE INDEX IF NOT EXISTS gate_cases_by_client ON gate_cases (client_id);

-- Per-partner ids: the id a referral has for its partner (key on kim.partner.<org>, id in /partner/...) and the
-- version of that partner's stream (the ETag of the partner API). Rows from before this migration have none:
-- their partner cannot address them (re-seed a demo made before it).
ALTER TABLE referrals ADD COLUMN IF NOT EXISTS partner_referral_id text;
ALTER TABLE referrals ADD COLUMN IF NOT EXISTS partner_version integer NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX IF NOT EXISTS referrals_by_partner_referral_id ON referrals (partner_referral_id);
