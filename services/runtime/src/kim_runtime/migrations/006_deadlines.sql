-- The durable scheduler (kim_runtime.scheduler): one row per pending deadline of this service, keyed by what it is
-- about (e.g. 'consent-expiry:<consent id>'). A deadline is set, moved or cancelled only by kim_append's
-- p_deadlines, so it commits or fails with the event that asks for it. The worker fires a due row and deletes it in
-- one transaction under FOR UPDATE SKIP LOCKED: several replicas never fire the same row, a crash fires it again.
CREATE TABLE IF NOT EXISTS deadlines (
    key         text PRIMARY KEY,
    kind        text NOT NULL,                 -- which handler fires it
    stream_id   text NOT NULL,                 -- the stream whose event set it
    due_at      timestamptz NOT NULL,
    data        jsonb NOT NULL DEFAULT '{}',
    set_by      uuid NOT NULL,                 -- the event that set (or last moved) it
    attempts    integer NOT NULL DEFAULT 0,    -- failed firings (each postpones it)
    last_error  text
);
CREATE INDEX IF NOT EXISTS deadlines_due ON deadlines (due_at);

-- Set once the deadlines of the events stored before the scheduler existed were derived (scheduler.derive_once).
CREATE TABLE IF NOT EXISTS deadlines_derived (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    derived_at  timestamptz NOT NULL DEFAULT now(),
    changes     integer NOT NULL
);

-- Apply deadline changes: [{"key", "kind", "stream_id", "due_at", "data", "set_by"}] sets or moves one,
-- {"key", "cancel": true} cancels one, {"cancel_prefix": "..."} cancels every key with that prefix.
-- Wakes the scheduler at commit.
CREATE OR REPLACE FUNCTION kim_schedule(p_changes jsonb) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    c jsonb;
BEGIN
    IF p_changes IS NULL OR jsonb_array_length(p_changes) = 0 THEN
        RETURN;
    END IF;
    FOR c IN SELECT * FROM jsonb_array_elements(p_changes) LOOP
        IF c ? 'cancel_prefix' THEN
            DELETE FROM deadlines WHERE starts_with(key, c->>'cancel_prefix');
        ELSIF coalesce((c->>'cancel')::boolean, false) THEN
            DELETE FROM deadlines WHERE key = c->>'key';
        ELSE
            INSERT INTO deadlines (key, kind, stream_id, due_at, data, set_by)
                VALUES (c->>'key', c->>'kind', c->>'stream_id', (c->>'due_at')::timestamptz,
                        coalesce(c->'data', '{}'::jsonb), (c->>'set_by')::uuid)
                ON CONFLICT (key) DO UPDATE SET kind = excluded.kind, stream_id = excluded.stream_id,
                    due_at = excluded.due_at, data = excluded.data, set_by = excluded.set_by, attempts = 0,
                    last_error = NULL;
        END IF;
    END LOOP;
    PERFORM pg_notify('kim_deadlines', '');
END
$$;
ALTER FUNCTION kim_schedule(jsonb) SECURITY DEFINER SET search_path = public, pg_temp;

-- append with deadlines: the events, their outbox rows and the deadlines they set, move or cancel, in one call.
CREATE OR REPLACE FUNCTION kim_append(
    p_stream_id text, p_expected integer, p_topic text,
    p_event_ids uuid[], p_types text[], p_schema_versions integer[], p_occurred timestamptz[],
    p_metadata jsonb[], p_data jsonb[], p_deadlines jsonb
) RETURNS TABLE (out_position bigint, out_version integer) LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY SELECT a.out_position, a.out_version FROM kim_append(p_stream_id, p_expected, p_topic,
        p_event_ids, p_types, p_schema_versions, p_occurred, p_metadata, p_data) a;
    PERFORM kim_schedule(p_deadlines);
END
$$;
ALTER FUNCTION kim_append(text, integer, text, uuid[], text[], integer[], timestamptz[], jsonb[], jsonb[], jsonb)
    SECURITY DEFINER SET search_path = public, pg_temp;
