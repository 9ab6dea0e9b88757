-- An append that is a request's effect marks the request's Idempotency-Key claim `applied` in its own statement
-- (kim_runtime.store). This function fails that statement when the claim is no longer held (its lease ran out and a
-- retry took it over, or it was pruned): the whole statement (events, outbox rows, deadlines, the mark) is undone,
-- so the append needs no transaction of its own around it (BEGIN and COMMIT were two more round trips per command).
CREATE OR REPLACE FUNCTION kim_claim_held(p_marked bigint) RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
    IF p_marked IS DISTINCT FROM 1 THEN
        RAISE EXCEPTION USING ERRCODE = 'KIM02', MESSAGE = 'idempotency key no longer held';
    END IF;
    RETURN p_marked;
END
$$;
