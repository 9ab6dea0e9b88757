-- kim_append returns each appended event's hash too: a receipted append (kim_runtime.anchor.RECEIPTED: the access
-- log, kim audit's records) signs the new head's hash without reading it back (one round trip fewer). Only the
-- result gains a column; the arguments, the checks and what is written are those of migrations 001 and 006. A
-- function's result type cannot be replaced in place, so both forms are dropped and made again, as the store's owner
-- (SECURITY DEFINER, as migrations 004 and 006 set).
DROP FUNCTION kim_append(text, integer, text, uuid[], text[], integer[], timestamptz[], jsonb[], jsonb[], jsonb);
DROP FUNCTION kim_append(text, integer, text, uuid[], text[], integer[], timestamptz[], jsonb[], jsonb[]);

CREATE FUNCTION kim_append(
    p_stream_id text, p_expected integer, p_topic text,
    p_event_ids uuid[], p_types text[], p_schema_versions integer[], p_occurred timestamptz[],
    p_metadata jsonb[], p_data jsonb[]
) RETURNS TABLE (out_position bigint, out_version integer, out_hash bytea) LANGUAGE plpgsql AS $$
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
        out_hash := v_hash;
        RETURN NEXT;
    END LOOP;
    UPDATE streams SET version = p_expected + coalesce(array_length(p_event_ids, 1), 0), last_hash = v_hash
        WHERE stream_id = p_stream_id;
    IF p_topic IS NOT NULL THEN
        PERFORM pg_notify('kim_outbox', '');
    END IF;
END
$$;
ALTER FUNCTION kim_append(text, integer, text, uuid[], text[], integer[], timestamptz[], jsonb[], jsonb[])
    SECURITY DEFINER SET search_path = public, pg_temp;

CREATE FUNCTION kim_append(
    p_stream_id text, p_expected integer, p_topic text,
    p_event_ids uuid[], p_types text[], p_schema_versions integer[], p_occurred timestamptz[],
    p_metadata jsonb[], p_data jsonb[], p_deadlines jsonb
) RETURNS TABLE (out_position bigint, out_version integer, out_hash bytea) LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY SELECT a.out_position, a.out_version, a.out_hash FROM kim_append(p_stream_id, p_expected, p_topic,
        p_event_ids, p_types, p_schema_versions, p_occurred, p_metadata, p_data) a;
    PERFORM kim_schedule(p_deadlines);
END
$$;
ALTER FUNCTION kim_append(text, integer, text, uuid[], text[], integer[], timestamptz[], jsonb[], jsonb[], jsonb)
    SECURITY DEFINER SET search_path = public, pg_temp;
