-- The team a case belongs to (from CaseOpened / CaseTransferred), so staffing scopes a case like the cases service.
ALTER TABLE caseload_cases ADD COLUMN IF NOT EXISTS team_organisation_id text;
