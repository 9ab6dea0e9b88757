-- Idempotent consumers: each handled event is claimed in the same transaction as its effect.
CREATE TABLE IF NOT EXISTS inbox (
    consumer    text NOT NULL,
    event_id    uuid NOT NULL,
    handled_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

-- Per topic-partition progress of each consumer, written with its effects (lag, resume, rebuild).
CREATE TABLE IF NOT EXISTS checkpoints (
    consumer    text NOT NULL,
    topic       text NOT NULL,
    partition   integer NOT NULL,
    "offset"    bigint NOT NULL,
    event_time  timestamptz,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, topic, partition)
);
