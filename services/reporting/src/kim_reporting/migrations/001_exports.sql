-- Every export (CSV of indicators or of a report) is recorded: who, when, what.
CREATE TABLE IF NOT EXISTS exports (
    id          bigserial PRIMARY KEY,
    actor       text NOT NULL,
    role        text NOT NULL,
    what        text NOT NULL,
    parameters  jsonb NOT NULL,
    cells       integer NOT NULL,
    exported_at timestamptz NOT NULL DEFAULT now()
);
