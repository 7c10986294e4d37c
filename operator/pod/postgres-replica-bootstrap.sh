#!/usr/bin/env bash
# PostgreSQL read replica, init container: when the data volume is empty,
# copy the primary with pg_basebackup (-R writes the standby settings), so
# the server that starts next streams from it. A volume that already holds
# a replica is left alone.
#
# Environment: PGDATA, PRIMARY_HOST, PRIMARY_PORT, REPLICATION_USER,
# REPLICATION_PASSWORD; WAIT_SECONDS (default 300) bounds the wait for the
# primary.
set -euo pipefail
: "${PGDATA:?}" "${PRIMARY_HOST:?}" "${PRIMARY_PORT:?}" "${REPLICATION_USER:?}" "${REPLICATION_PASSWORD:?}"

if [ -s "$PGDATA/PG_VERSION" ]; then
  echo "payrail: $PGDATA already holds a replica; starting it as it is"
  exit 0
fi

deadline=$(( $(date +%s) + ${WAIT_SECONDS:-300} ))
until pg_isready -q -h "$PRIMARY_HOST" -p "$PRIMARY_PORT"; do
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "payrail: primary $PRIMARY_HOST:$PRIMARY_PORT not ready in time" >&2
    exit 1
  fi
  sleep 2
done

# A half-finished copy from an earlier attempt is worthless: start clean.
rm -rf "${PGDATA:?}"/* "${PGDATA:?}"/.[!.]* 2>/dev/null || true
mkdir -p "$PGDATA"
PGPASSWORD="$REPLICATION_PASSWORD" pg_basebackup \
  --host "$PRIMARY_HOST" --port "$PRIMARY_PORT" --username "$REPLICATION_USER" \
  --pgdata "$PGDATA" --wal-method stream --checkpoint fast --write-recovery-conf --no-password
chmod 0700 "$PGDATA"
echo "payrail: replica copied from $PRIMARY_HOST:$PRIMARY_PORT"
