#!/usr/bin/env bash
# PostgreSQL primary, first start only: run by the postgres image's
# entrypoint from /docker-entrypoint-initdb.d as the postgres user, against
# the server it has just initialised. Creates the role the read replica
# streams with and lets it connect for replication.
#
# Environment: PGDATA, POSTGRES_USER, REPLICATION_USER, REPLICATION_PASSWORD.
# (PGHOST/PGPORT, when set, say where the server listens.)
set -euo pipefail
: "${PGDATA:?}" "${POSTGRES_USER:?}" "${REPLICATION_USER:?}" "${REPLICATION_PASSWORD:?}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  --set=role="$REPLICATION_USER" --set=password="$REPLICATION_PASSWORD" <<'SQL'
SELECT format('CREATE ROLE %I WITH REPLICATION LOGIN PASSWORD %L', :'role', :'password')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec
SQL

if ! grep -q "^host replication $REPLICATION_USER " "$PGDATA/pg_hba.conf"; then
  echo "host replication $REPLICATION_USER all scram-sha-256" >> "$PGDATA/pg_hba.conf"
fi
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres -c 'SELECT pg_reload_conf()' >/dev/null
echo "payrail: replication role $REPLICATION_USER ready"
