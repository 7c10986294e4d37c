#!/usr/bin/env bash
# PostgreSQL read replica, init container. The replica streams through a
# physical replication slot on the primary (REPLICA_SLOT), which keeps the
# WAL it still needs, up to the primary's max_slot_wal_keep_size.
#
# - An empty volume: copy the primary with pg_basebackup, creating the slot
#   (-R writes the standby settings and primary_slot_name).
# - A volume that holds a replica whose slot is still good: start it as it
#   is; it catches up from the slot.
# - A volume that holds a replica whose slot is gone or was given up (the
#   replica was away longer than the primary would keep WAL for it): it can
#   never catch up, so copy the primary again instead of crash-looping.
# - A volume that holds a replica while the primary does not answer: start
#   it as it is (it serves its last state and streams once the primary is
#   back), since nothing can be decided.
#
# Environment: PGDATA, PRIMARY_HOST, PRIMARY_PORT, REPLICATION_USER,
# REPLICATION_PASSWORD, REPLICA_SLOT; WAIT_SECONDS (default 300) bounds the
# wait for the primary.
set -euo pipefail
: "${PGDATA:?}" "${PRIMARY_HOST:?}" "${PRIMARY_PORT:?}" "${REPLICATION_USER:?}" "${REPLICATION_PASSWORD:?}" "${REPLICA_SLOT:?}"
export PGPASSWORD="$REPLICATION_PASSWORD"
replication="host=$PRIMARY_HOST port=$PRIMARY_PORT user=$REPLICATION_USER dbname=replication replication=true"

wait_for_primary() {
  local deadline=$(( $(date +%s) + ${WAIT_SECONDS:-300} ))
  until pg_isready -q -h "$PRIMARY_HOST" -p "$PRIMARY_PORT"; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      return 1
    fi
    sleep 2
  done
}

if [ -s "$PGDATA/PG_VERSION" ]; then
  if ! wait_for_primary; then
    echo "payrail: primary $PRIMARY_HOST:$PRIMARY_PORT not answering; starting the replica as it is"
    exit 0
  fi
  # slot_type|restart_lsn: both empty when there is no such slot,
  # restart_lsn empty when the primary gave the slot up. (PostgreSQL 15 or
  # newer; an older primary cannot say, and the replica starts as it is.)
  if ! slot=$(psql "$replication" -XAtc "READ_REPLICATION_SLOT $REPLICA_SLOT"); then
    echo "payrail: cannot read the slot $REPLICA_SLOT on the primary; starting the replica as it is"
    exit 0
  fi
  if [ -n "${slot%%|*}" ] && [ -n "$(echo "$slot" | cut -d'|' -f2)" ]; then
    echo "payrail: $PGDATA already holds a replica and its slot $REPLICA_SLOT is kept; starting it as it is"
    exit 0
  fi
  echo "payrail: the slot $REPLICA_SLOT is gone or was given up (${slot:-none}): the replica can no longer follow; re-cloning"
elif ! wait_for_primary; then
  echo "payrail: primary $PRIMARY_HOST:$PRIMARY_PORT not ready in time" >&2
  exit 1
fi

# A slot left from an earlier copy would make --create-slot fail; a
# half-finished copy is worthless: start clean.
psql "$replication" -XAtc "DROP_REPLICATION_SLOT $REPLICA_SLOT" >/dev/null 2>&1 || true
rm -rf "${PGDATA:?}"/* "${PGDATA:?}"/.[!.]* 2>/dev/null || true
mkdir -p "$PGDATA"
pg_basebackup \
  --host "$PRIMARY_HOST" --port "$PRIMARY_PORT" --username "$REPLICATION_USER" \
  --pgdata "$PGDATA" --wal-method stream --checkpoint fast --write-recovery-conf --no-password \
  --create-slot --slot "$REPLICA_SLOT"
chmod 0700 "$PGDATA"
echo "payrail: replica copied from $PRIMARY_HOST:$PRIMARY_PORT with slot $REPLICA_SLOT"
