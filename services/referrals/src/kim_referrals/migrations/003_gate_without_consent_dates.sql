-- The consent gate's decision moved to the cases service (GET /internal/cases/{id}/consent-decision), which owns the
-- consents and their dates. The gate keeps per consent only what kim.cases says in event order: its scope, what
-- was withdrawn, and whether it expired; the row is the lock a referral request and a withdrawal meet on.
ALTER TABLE gate_consents DROP COLUMN IF EXISTS granted_on;
ALTER TABLE gate_consents DROP COLUMN IF EXISTS valid_until;
ALTER TABLE gate_consents ALTER COLUMN recipients SET DEFAULT '{}';
ALTER TABLE gate_consents ALTER COLUMN purposes SET DEFAULT '{}';
ALTER TABLE gate_consents ALTER COLUMN data_categories SET DEFAULT '{}';
ALTER TABLE gate_consents ADD COLUMN IF NOT EXISTS expired_at timestamptz;
