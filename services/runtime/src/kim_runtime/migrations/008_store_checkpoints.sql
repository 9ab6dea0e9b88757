-- Store positions and Kafka offsets are different things: a position orders one event store (events.position), an
-- offset orders one Kafka topic-partition. `checkpoints` holds offsets only; a rebuild from the event stores
-- (replay_store) keeps the last store position it applied per topic here. Earlier versions kept those positions in
-- checkpoints as topic 'store:<topic>', partition 0: they move.
CREATE TABLE IF NOT EXISTS store_checkpoints (
    consumer    text NOT NULL,
    topic       text NOT NULL,                 -- the topic whose events the store publishes
    position    bigint NOT NULL,               -- the last store position applied
    event_time  timestamptz,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, topic)
);

INSERT INTO store_checkpoints (consumer, topic, position, event_time, updated_at)
SELECT consumer, substr(topic, length('store:') + 1), "offset", event_time, updated_at
FROM checkpoints WHERE starts_with(topic, 'store:')
ON CONFLICT DO NOTHING;
DELETE FROM checkpoints WHERE starts_with(topic, 'store:');
