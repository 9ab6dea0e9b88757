-- Idempotency-Key (kim_runtime.idempotency): one row per key a caller sent with a POST, kept KIM_IDEMPOTENCY_TTL_S.
-- A request claims its key (state in_flight, a lease); the append that is its effect marks the row applied in the
-- same transaction (so a retry after a crash never applies it twice); the answer is stored once it is sent (done).
CREATE TABLE IF NOT EXISTS idempotency_keys (
    scope        text NOT NULL,                 -- whose key: the caller's role, subject and organisation
    key          text NOT NULL,                 -- the Idempotency-Key header
    fingerprint  text NOT NULL,                 -- sha256 of method, path and (canonical JSON) body
    claim        uuid NOT NULL,                 -- the request that holds the key now
    state        text NOT NULL CHECK (state IN ('in_flight', 'applied', 'done')),
    lease_until  timestamptz NOT NULL,          -- an in_flight claim older than this may be taken over
    applied_at   timestamptz,
    status       integer,                       -- the stored answer (state done)
    headers      jsonb,
    body         bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX IF NOT EXISTS idempotency_keys_expiry ON idempotency_keys (expires_at);
