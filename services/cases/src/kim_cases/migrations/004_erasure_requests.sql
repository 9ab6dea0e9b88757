-- The reference (file number) of each erasure request, written in the erasure's transaction. Since contract 6.0.0
-- ClientErased no longer carries it: it is recorded as the client's key is destroyed, so it could not be sealed
-- under that key and stay readable, and a file number can still name the person. Kept here for the auditor
-- (`kim audit erasures` joins it to the ClientErased events); never published. Erasures when the retention period
-- passed have no request and no row.
CREATE TABLE IF NOT EXISTS erasure_requests (
    client_id          text PRIMARY KEY,
    request_reference  text NOT NULL CHECK (request_reference ~ '^[A-Za-z0-9][A-Za-z0-9/._-]{0,39}$'),
    recorded_at        timestamptz NOT NULL DEFAULT now()
);
