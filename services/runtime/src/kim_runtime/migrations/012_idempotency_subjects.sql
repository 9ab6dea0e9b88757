-- Idempotency-Key answers that a database dump cannot be searched with, and that an erasure or revocation forgets
-- (kim_runtime.idempotency):
-- - subjects: what a stored answer concerns (the streams and subjects its request's appends named: a client id, a
--   referral id); kim_runtime.idempotency.forget turns every answer naming an erased client or a revoked referral
--   into a 410 that holds nothing of it, in the erasure's or revocation's own transaction;
-- - fingerprints are now HMAC-SHA256 under a per-service key ("hmac-sha256:<hex>"). A row from before (a plain,
--   unsalted sha256 of method, path and body, searchable with a guessed body) is retired here: its fingerprint
--   becomes a value no request matches and its stored answer is dropped. A retry with such a key (at most
--   KIM_IDEMPOTENCY_TTL_S after the upgrade) is answered 422 (key reused), never run a second time and never a 500;
--   the row is pruned when it expires.
ALTER TABLE idempotency_keys ADD COLUMN IF NOT EXISTS subjects text[];
CREATE INDEX IF NOT EXISTS idempotency_keys_subjects ON idempotency_keys USING gin (subjects);
UPDATE idempotency_keys SET fingerprint = 'retired-sha256', headers = NULL, body = NULL
 WHERE fingerprint NOT LIKE 'hmac-sha256:%' AND fingerprint <> 'retired-sha256';
