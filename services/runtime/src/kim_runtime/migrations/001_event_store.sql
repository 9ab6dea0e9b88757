-- The event store: one row per event, a hash chain per stream, an outbox row per event.
CREATE TABLE IF NOT EXISTS streams (
    stream_id   text PRIMARY KEY,
    version     integer NOT NULL,
    last_hash   bytea NOT NULL
);

CREATE TABLE IF NOT EXISTS events (
    position        bigserial PRIMARY KEY,           -- global position in this store
    event_id        uuid NOT NULL UNIQUE,
    stream_id       text NOT NULL,
    version         integer NOT NULL,                -- 1, 2, ... within the stream
    type            text NOT NULL,
    schema_version  integer NOT NULL,
    occurred_at     timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    metadata        jsonb NOT NULL,                  -- source, subject, correlation, causation, actor, ...
    data            jsonb NOT NULL,
    prev_hash       bytea NOT NULL,                  -- hash of the stream predecessor ('\x' for the first)
    hash            bytea NOT NULL,
    UNIQUE (stream_id, version)
);

CREATE TABLE IF NOT EXISTS outbox (
    position    bigint PRIMARY KEY REFERENCES events (position),
    topic       text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz
);
CREATE INDEX IF NOT EXISTS outbox_unsent ON outbox (position) WHERE sent_at IS NULL;

-- What the hash covers: everything that makes the event what it is, in a text form PostgreSQL renders
-- the same way every time (jsonb text is normalised; time as epoch microseconds, free of TimeZone).
CREATE OR REPLACE FUNCTION kim_event_digest_input(
    p_event_id uuid, p_stream_id text, p_version integer, p_type text, p_schema_version integer,
    p_occurred_at timestamptz, p_metadata jsonb, p_data jsonb
) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
    SELECT convert_to(concat_ws(E'\x1f', p_event_id::text, p_stream_id, p_version::text, p_type,
        p_schema_version::text, (extract(epoch FROM p_occurred_at) * 1000000)::bigint::text,
        p_metadata::text, p_data::text), 'UTF8')
$$;

-- append: the whole write in one round trip. Checks the expected version under the stream's row lock,
-- chains the hashes, writes events and outbox rows, and wakes the relay at commit.
CREATE OR REPLACE FUNCTION kim_append(
    p_stream_id text, p_expected integer, p_topic text,
    p_event_ids uuid[], p_types text[], p_schema_versions integer[], p_occurred timestamptz[],
    p_metadata jsonb[], p_data jsonb[]
) RETURNS TABLE (out_position bigint, out_version integer) LANGUAGE plpgsql AS $$
DECLARE
    v_current integer;
    v_hash bytea;
    v_prev bytea;
    v_pos bigint;
    i integer;
BEGIN
    IF p_expected = 0 THEN
        INSERT INTO streams (stream_id, version, last_hash) VALUES (p_stream_id, 0, '\x')
            ON CONFLICT DO NOTHING;
    END IF;
    SELECT version, last_hash INTO v_current, v_prev FROM streams WHERE stream_id = p_stream_id FOR UPDATE;
    IF v_current IS NULL OR v_current <> p_expected THEN
        RAISE EXCEPTION USING ERRCODE = 'KIM01', MESSAGE = 'version conflict',
            DETAIL = coalesce(v_current, 0)::text;
    END IF;
    v_hash := v_prev;
    FOR i IN 1 .. coalesce(array_length(p_event_ids, 1), 0) LOOP
        v_prev := v_hash;
        v_hash := sha256(v_prev || kim_event_digest_input(p_event_ids[i], p_stream_id, p_expected + i,
            p_types[i], p_schema_versions[i], p_occurred[i], p_metadata[i], p_data[i]));
        INSERT INTO events (event_id, stream_id, version, type, schema_version, occurred_at, metadata, data,
                            prev_hash, hash)
            VALUES (p_event_ids[i], p_stream_id, p_expected + i, p_types[i], p_schema_versions[i], p_occurred[i],
                    p_metadata[i], p_data[i], v_prev, v_hash)
            RETURNING position INTO v_pos;
        IF p_topic IS NOT NULL THEN
            INSERT INTO outbox (position, topic) VALUES (v_pos, p_topic);
        END IF;
        out_position := v_pos;
        out_version := p_expected + i;
        RETURN NEXT;
    END LOOP;
    UPDATE streams SET version = p_expected + coalesce(array_length(p_event_ids, 1), 0), last_hash = v_hash
        WHERE stream_id = p_stream_id;
    IF p_topic IS NOT NULL THEN
        PERFORM pg_notify('kim_outbox', '');
    END IF;
END
$$;
