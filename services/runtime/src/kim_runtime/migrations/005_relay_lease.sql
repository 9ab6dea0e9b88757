-- The outbox relay's lease: one row per database. Whoever holds an unexpired lease is the only relay that
-- publishes; every new holder gets a higher token (the fencing token). Marking a batch sent checks the token in
-- the same transaction, under this row's lock, so a relay that lost the lease never marks anything.
CREATE TABLE IF NOT EXISTS relay_lease (
    name         text PRIMARY KEY,
    holder       text NOT NULL,
    token        bigint NOT NULL,
    acquired_at  timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL
);
INSERT INTO relay_lease (name, holder, token, acquired_at, expires_at)
    VALUES ('outbox', '', 0, now(), '-infinity') ON CONFLICT DO NOTHING;
