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
# - A volume that holds a copy of another database than the primary's
#   (their system identifiers differ): the primary lost its volume and
#   was initialised anew, and this copy may be the last one of the ledger.
#   Nothing is deleted: the container stops, saying so, and stays stopped
#   until someone decides (docs/operator.md, "A primary that lost its
#   volume"). A copy is only ever replaced by a newer copy of the same
#   database.
#
# Re-clones because the slot was given up are paced: each copies the whole
# database off the primary, so one that follows soon after another (the
# replica lost its slot again: too little max_slot_wal_keep_size for the
# write load, or a replica too slow to replay) waits first, twice as long
# each time, up to half an hour. The last one is noted next to PGDATA, on
# the volume, so the pace survives the pod. The operator deletes a replica
# pod that has not streamed for minutes while its primary serves (so this
# runs again); this is what keeps that from becoming a copy loop.
#
# Environment: PGDATA, PRIMARY_HOST, PRIMARY_PORT, REPLICATION_USER,
# REPLICATION_PASSWORD, REPLICA_SLOT; WAIT_SECONDS (default 300) bounds the
# wait for the primary; TERMINATION_LOG (default /dev/termination-log),
# where the kubelet reads the reason a container stopped;
# RECLONE_BACKOFF_SECONDS (default 300), the least time between two
# re-clones, doubled for each one that follows within a day.
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

refuse() {
  echo "$1" >&2
  { printf '%s\n' "$1" > "${TERMINATION_LOG:-/dev/termination-log}"; } 2>/dev/null || true
  exit 1
}

# Waits out the pace of re-clones (see above), then notes this one:
# "<when> <how many in a row>".
pace_reclones() {
  local state now last=0 count=0 gap
  state="$(dirname "$PGDATA")/payrail-reclones"
  now=$(date +%s)
  if [ -s "$state" ]; then
    read -r last count < "$state" || true
    case "$last$count" in *[!0-9]*|'') last=0 count=0 ;; esac
  fi
  if [ $(( now - last )) -ge 86400 ]; then
    count=0
  fi
  if [ "$count" -gt 0 ]; then
    gap=$(( ${RECLONE_BACKOFF_SECONDS:-300} << (count > 3 ? 3 : count - 1) ))
    gap=$(( gap > 1800 ? 1800 : gap ))
    if [ $(( last + gap )) -gt "$now" ]; then
      echo "payrail: re-clone $(( count + 1 )) in a row (the last one $(( now - last ))s ago): waiting $(( last + gap - now ))s before copying the primary again"
      sleep $(( last + gap - now ))
      now=$(date +%s)
    fi
  fi
  if ! { printf '%s %s\n' "$now" "$(( count + 1 ))" > "$state"; } 2>/dev/null; then
    echo "payrail: cannot note this re-clone in $state; the next one will not wait" >&2
  fi
}

# The system identifier initdb gave a database, kept by every copy of it.
system_id_here() {
  LC_ALL=C pg_controldata "$PGDATA" | sed -n 's/^Database system identifier:[[:space:]]*//p'
}

if [ -s "$PGDATA/PG_VERSION" ]; then
  if ! wait_for_primary; then
    echo "payrail: primary $PRIMARY_HOST:$PRIMARY_PORT not answering; starting the replica as it is"
    exit 0
  fi
  # pg_basebackup writes global/pg_control last: without it, this is a copy
  # that never finished, of no database yet, and is copied again.
  if [ ! -e "$PGDATA/global/pg_control" ]; then
    echo "payrail: $PGDATA holds a copy that never finished (no global/pg_control); copying the primary again"
  else
    if ! theirs=$(psql "$replication" -XAtc IDENTIFY_SYSTEM | cut -d'|' -f1) || [ -z "$theirs" ]; then
      echo "payrail: cannot ask the primary which database it holds; starting the replica as it is"
      exit 0
    fi
    ours=$(system_id_here || true)
    if [ -z "$ours" ]; then
      refuse "payrail: $PGDATA holds a database whose system identifier cannot be read (pg_controldata failed); refusing to replace it with a copy of the primary. Look at it before deleting anything: docs/operator.md, \"A primary that lost its volume\"."
    fi
    if [ "$ours" != "$theirs" ]; then
      refuse "payrail: refusing to follow the primary: it holds a different database (system identifier $theirs) from the one this replica copied ($ours), so the primary's volume was lost or replaced and it was initialised anew. This replica's copy may be the last one of the ledger: nothing was deleted, and the replica stays stopped. Put its data back on the primary (or restore a backup): docs/operator.md, \"A primary that lost its volume\"."
    fi
    # The same database. slot_type|restart_lsn: both empty when there is no
    # such slot, restart_lsn empty when the primary gave the slot up.
    # (PostgreSQL 15 or newer; an older primary cannot say, and the replica
    # starts as it is.)
    if ! slot=$(psql "$replication" -XAtc "READ_REPLICATION_SLOT $REPLICA_SLOT"); then
      echo "payrail: cannot read the slot $REPLICA_SLOT on the primary; starting the replica as it is"
      exit 0
    fi
    if [ -n "${slot%%|*}" ] && [ -n "$(echo "$slot" | cut -d'|' -f2)" ]; then
      echo "payrail: $PGDATA already holds a replica and its slot $REPLICA_SLOT is kept; starting it as it is"
      exit 0
    fi
    echo "payrail: the slot $REPLICA_SLOT is gone or was given up (${slot:-none}): the replica can no longer follow; re-cloning"
    pace_reclones
  fi
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
