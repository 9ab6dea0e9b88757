-- Client data keys are stored only wrapped by a key-encryption key (KEK) that is not in this database, so a copy of
-- the database alone decrypts nothing. The table of raw keys from 001 moves aside as client_keys_unwrapped; the
-- service, which holds the KEK, wraps every key in it at start-up and drops it in the same transaction
-- (kim_cases.adapters.key_setup). `kim keys rotate` does the same if it runs first.
ALTER TABLE client_keys RENAME TO client_keys_unwrapped;
ALTER TABLE client_keys_unwrapped RENAME CONSTRAINT client_keys_pkey TO client_keys_unwrapped_pkey;
ALTER TABLE client_keys_unwrapped RENAME CONSTRAINT client_keys_key_id_key TO client_keys_unwrapped_key_id_key;

-- One data key per client, wrapped (AES-256-GCM: nonce, key, tag = 60 bytes; client id and key id bound in).
-- Erasure deletes the row: the client's ciphertexts can never be read again.
CREATE TABLE client_keys (
    client_id    text PRIMARY KEY,
    key_id       uuid NOT NULL UNIQUE,
    kek_id       text NOT NULL,
    wrapped_key  bytea NOT NULL CHECK (length(wrapped_key) = 60),
    created_at   timestamptz NOT NULL DEFAULT now(),
    wrapped_at   timestamptz NOT NULL DEFAULT now()
);
-- Rotation walks the keys of one KEK in client order.
CREATE INDEX client_keys_by_kek ON client_keys (kek_id, client_id);

-- The KEKs services have held: id and verifier (an HMAC of a fixed label under the KEK), never the key itself.
-- A service refuses to start with another key under a known id; rotation only re-wraps to a KEK a service holds.
CREATE TABLE key_encryption_keys (
    kek_id         text PRIMARY KEY,
    verifier       bytea NOT NULL,
    first_held_at  timestamptz NOT NULL DEFAULT now(),
    last_held_at   timestamptz NOT NULL DEFAULT now()
);
