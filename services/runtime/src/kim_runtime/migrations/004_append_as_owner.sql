-- The event store refuses rewrites from the service's own role (kim_runtime.db.grant_service_role): that role may
-- read events and streams but never write them; it appends only through kim_append, which runs with the rights of
-- the role that owns the store (the migration role) and writes nothing but a chained append.
ALTER FUNCTION kim_append(text, integer, text, uuid[], text[], integer[], timestamptz[], jsonb[], jsonb[])
    SECURITY DEFINER SET search_path = public, pg_temp;
