-- Signed anchors (kim_runtime.anchor): what the last anchor sealed, so the next one publishes only the heads that
-- changed and names its predecessor. The authoritative copies are on kim.audit.anchors and in the anchor file.
-- The store's own id, made once: anchors name it, so two stores of one service (a test instance, a store rebuilt
-- from scratch) never pass for each other.
CREATE TABLE IF NOT EXISTS audit_store (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    created_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO audit_store (id) SELECT gen_random_uuid() WHERE NOT EXISTS (SELECT 1 FROM audit_store);

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
