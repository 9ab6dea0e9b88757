-- Read models of the service's own streams, written in the same transaction as the events they reflect.
CREATE TABLE IF NOT EXISTS partners (
    organisation_id text PRIMARY KEY,
    name            text NOT NULL,
    kind            text NOT NULL,
    public_body     boolean NOT NULL,
    municipality    text,
    registered_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS referrals (
    referral_id         text PRIMARY KEY,
    case_id             text NOT NULL,
    to_organisation_id  text NOT NULL,
    consent_id          text NOT NULL,
    client_pseudonym    text NOT NULL,
    purpose             text NOT NULL,
    data_categories     text[] NOT NULL,
    state               text NOT NULL,
    due_on              date,
    appointment_on      date,
    outcome             text,
    decline_reason      text,
    revocation_reason   text,
    version             integer NOT NULL,
    requested_at        timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS referrals_by_partner ON referrals (to_organisation_id, requested_at);
CREATE INDEX IF NOT EXISTS referrals_by_case ON referrals (case_id);
CREATE INDEX IF NOT EXISTS referrals_by_consent ON referrals (consent_id);

-- The consent gate: what the service knows from kim.cases (codes and pseudonymous ids only).
CREATE TABLE IF NOT EXISTS gate_cases (
    case_id               text PRIMARY KEY,
    client_id             text,
    municipality          text,
    team_organisation_id  text,
    residence_status      text,
    rechtskreis           text,
    closed_on             date
);

CREATE TABLE IF NOT EXISTS gate_clients (
    client_id  text PRIMARY KEY,
    languages  text[] NOT NULL DEFAULT '{}'
);

CREATE TABLE IF NOT EXISTS gate_consents (
    consent_id       text PRIMARY KEY,
    case_id          text NOT NULL,
    recipients       text[] NOT NULL,
    purposes         text[] NOT NULL,
    data_categories  text[] NOT NULL,
    valid_until      date,
    withdrawn_at     timestamptz,
    granted_on       date NOT NULL
);
CREATE INDEX IF NOT EXISTS gate_consents_by_case ON gate_consents (case_id);
