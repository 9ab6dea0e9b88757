-- Which team and municipality registered each client: until the client has a case, they are who may act for the
-- client (open the first case, read the client). Written in the registration's transaction; not personal data.
CREATE TABLE IF NOT EXISTS client_registrations (
    client_id     text PRIMARY KEY,
    municipality  text,
    team          text
);
