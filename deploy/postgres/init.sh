#!/usr/bin/env bash
# One login role and one database per KIM Hub service; each role owns its database and nobody else may connect.
#
# The postgres image runs this once, on an empty data volume (/docker-entrypoint-initdb.d). It is idempotent, so ops
# run it again to add a service or rotate passwords after editing .env (deploy/README.md):
#   docker compose up -d postgres && docker compose exec -u postgres postgres /docker-entrypoint-initdb.d/init.sh
set -euo pipefail

services="${KIM_SERVICES:-cases staffing referrals reporting}"

for service in $services; do
  var="KIM_${service^^}_DB_PASSWORD"
  password="${!var:-}"
  if [[ ! "$password" =~ ^[A-Za-z0-9_.~-]{12,}$ ]]; then
    echo "init.sh: $var must be at least 12 characters of A-Z a-z 0-9 _ . ~ - (it goes into a URL unescaped);" \
      "generate one with: openssl rand -hex 24" >&2
    exit 1
  fi
  echo "init.sh: role and database kim_$service"
  psql --no-psqlrc -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
    -v name="kim_$service" -v password="$password" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'name')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'name') \gexec
ALTER ROLE :"name" WITH LOGIN PASSWORD :'password';
SELECT format('CREATE DATABASE %I OWNER %I', :'name', :'name')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'name') \gexec
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
GRANT ALL ON DATABASE :"name" TO :"name";
SQL
done
