-- One AES-256 key per client. Erasure deletes the row: the client's ciphertexts can never be read again.
CREATE TABLE IF NOT EXISTS client_keys (
    client_id   text PRIMARY KEY,
    key_id      uuid NOT NULL UNIQUE,
    key         bytea NOT NULL CHECK (length(key) = 32),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- The cases of a client, found in the store itself (consistent with every append).
CREATE INDEX IF NOT EXISTS events_case_opened_client
    ON events ((data->>'client_id')) WHERE type = 'kim.cases.CaseOpened';
