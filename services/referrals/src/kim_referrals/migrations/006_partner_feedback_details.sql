-- The partner's own words of a feedback report (POST /partner/feedback `detail`). Since contract 6.0.0
-- PartnerFeedbackReceived no longer carries them: free text nobody checks for personal data does not go on a topic
-- kept forever. Kept here for the operators' list (GET /partner-feedback), and deleted when the referral the report
-- names (key = the partner's referral id) is revoked (withdrawal, expiry, closure, the client's erasure).
-- Mutable on purpose, like partner_referral_keys.
CREATE TABLE IF NOT EXISTS partner_feedback_details (
    feedback_id      text PRIMARY KEY,
    organisation_id  text NOT NULL,
    partner_referral_id text,
    detail           text NOT NULL,
    received_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS partner_feedback_details_referral ON partner_feedback_details (partner_referral_id);
