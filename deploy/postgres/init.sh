#!/usr/bin/env bash
# Two login roles and one database per KIM Hub service: kim_<service> owns the database and runs the migrations;
# kim_<service>_app is what the service connects as, and may not rewrite events. Nobody else may connect.
#
# The postgres image runs this once, on an empty data volume (/docker-entrypoint-initdb.d). It is idempotent, so ops
# run it again to add a service or rotate passwords after editing .env (deploy/README.md):
#   docker compose up -d postgres && docker compose exec -u postgres postgres /docker-entrypoint-initdb.d/init.sh
set -euo pipefail

services="${KIM_SERVICES:-cases staffing referrals reporting}"

password_of() {  # $1 = variable name: its value, or exit with what to fix
  local value="${!1:-}"
  if [[ ! "$value" =~ ^[A-Za-z0-9_.~-]{12,}$ ]]; then
    echo "init.sh: $1 must be at least 12 characters of A-Z a-z 0-9 _ . ~ - (it goes into a URL unescaped);" \
      "generate one with: openssl rand -hex 24" >&2
    exit 1
  fi
  printf '%s' "$value"
}

for service in $services; do
  password="$(password_of "KIM_${service^^}_DB_PASSWORD")"
  app_password="$(password_of "KIM_${service^^}_DB_APP_PASSWORD")"
  echo "init.sh: roles kim_$service (owner, migrations) and kim_${service}_app (the service), database kim_$service"
  psql --no-psqlrc -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
    -v name="kim_$service" -v password="$password" -v app="kim_${service}_app" -v app_password="$app_password" \
    <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'name')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'name') \gexec
ALTER ROLE :"name" WITH LOGIN PASSWORD :'password';
-- The service's own role: no rights of its own; the service grants it, at each start, what it needs and nothing
-- that rewrites events (kim_runtime.db.grant_service_role).
SELECT format('CREATE ROLE %I LOGIN', :'app')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app') \gexec
ALTER ROLE :"app" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'app_password';
SELECT format('CREATE DATABASE %I OWNER %I', :'name', :'name')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'name') \gexec
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
GRANT ALL ON DATABASE :"name" TO :"name";
SQL
done
