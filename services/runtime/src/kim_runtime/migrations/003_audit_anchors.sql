-- Signed anchors (kim_runtime.anchor): what the last anchor sealed, so the next one publishes only the heads that
-- changed and names its predecessor. The authoritative copies are on kim.audit.anchors and in the anchor file.
CREATE TABLE IF NOT EXISTS audit_anchors (
    seq         integer PRIMARY KEY,
    digest      text NOT NULL,               -- SHA-256 of the anchor body's canonical JSON
    created_at  timestamptz NOT NULL,
    streams     integer NOT NULL,
    events      bigint NOT NULL
);

CREATE TABLE IF NOT EXISTS audit_anchor_heads (
    stream_id   text PRIMARY KEY,
    version     integer NOT NULL,
    hash        bytea NOT NULL
);
