-- Read models of the staffing service. grants/positions/occupancies are written in the same transaction as the
-- events they reflect (the write side also checks grant capacity against them, under a per-grant lock).
CREATE TABLE IF NOT EXISTS grants (
    grant_id text PRIMARY KEY,
    baustein text NOT NULL,
    period_from date NOT NULL,
    period_to date NOT NULL,
    vza numeric NOT NULL,
    rate_per_vza numeric NOT NULL,
    reference text,
    version int NOT NULL
);

CREATE TABLE IF NOT EXISTS positions (
    position_id text PRIMARY KEY,
    baustein text NOT NULL,
    vza numeric NOT NULL,
    host_organisation_id text NOT NULL,
    municipality text NOT NULL,
    funding_source text NOT NULL,
    grant_id text,
    funded_from date,            -- from when the grant pays (valid_from, or the day it was taken over)
    valid_from date NOT NULL,
    valid_to date,               -- last day, inclusive
    from_programme text,
    transferred_on date,
    version int NOT NULL
);
CREATE INDEX IF NOT EXISTS positions_grant ON positions (grant_id);

CREATE TABLE IF NOT EXISTS occupancies (
    position_id text NOT NULL REFERENCES positions ON DELETE CASCADE,
    seq int NOT NULL,
    staff_member_id text NOT NULL,
    vza_share numeric NOT NULL,
    from_date date NOT NULL,
    to_date date,                -- first day vacant (exclusive); NULL while filled
    PRIMARY KEY (position_id, seq)
);
CREATE INDEX IF NOT EXISTS occupancies_staff ON occupancies (staff_member_id);

-- Caseload, fed by kim.cases (CaseOpened/Transferred/Paused/Resumed/Closed) and kim.staffing (CaseManagerAssigned).
CREATE TABLE IF NOT EXISTS caseload_cases (
    case_id text PRIMARY KEY,
    staff_member_id text,
    municipality text,
    baustein text,
    status text NOT NULL DEFAULT 'unknown',   -- open | paused | closed | unknown (only an assignment seen yet)
    manager_since timestamptz,                -- time of the event that named the manager; later one wins
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS caseload_cases_staff ON caseload_cases (staff_member_id, status);

CREATE TABLE IF NOT EXISTS caseloads (
    staff_member_id text PRIMARY KEY,
    active_cases int NOT NULL DEFAULT 0,
    vza_share numeric NOT NULL DEFAULT 1,
    case_limit int NOT NULL DEFAULT 0,
    over_limit boolean NOT NULL DEFAULT false,  -- what the last limit event announced
    updated_at timestamptz NOT NULL DEFAULT now()
);
