#!/usr/bin/env bash
# PostgreSQL primary, init container: runs before the image's entrypoint,
# which initialises (initdb) any volume it finds empty. An empty volume is
# the first start of a cluster, or a primary whose volume was lost or
# replaced; in the second case a new, empty database would take the
# ledger's place, and the app would start writing to it. The one witness a
# pod can ask is the read replica: a replica that answers holds a copy of
# the database, so there is data, and this volume is not a first start.
# Then nothing is initialised: the pod stops here, saying so, until the
# data is put back (docs/operator.md, "A primary that lost its volume").
#
# If the replica is down too, nothing can be told apart and the primary
# initialises; the replica's own init container then refuses to follow a
# database other than the one it copied, so its copy is kept.
#
# Environment: PGDATA, REPLICA_HOST, REPLICA_PORT, REPLICATION_USER,
# REPLICATION_PASSWORD; TERMINATION_LOG (default /dev/termination-log),
# where the kubelet reads the reason a container stopped.
set -euo pipefail
: "${PGDATA:?}" "${REPLICA_HOST:?}" "${REPLICA_PORT:?}" "${REPLICATION_USER:?}" "${REPLICATION_PASSWORD:?}"

# The image's own test for "initialise this volume".
if [ -s "$PGDATA/PG_VERSION" ]; then
  echo "payrail: $PGDATA holds a database; starting it"
  exit 0
fi

# 0: the replica serves; 1: it answers but is not serving yet (recovering):
# either way a server with data runs there. 2 or 3: nothing answers.
status=0
pg_isready -q -h "$REPLICA_HOST" -p "$REPLICA_PORT" -t 5 || status=$?
if [ "$status" -ge 2 ]; then
  echo "payrail: $PGDATA is empty and no read replica answers at $REPLICA_HOST:$REPLICA_PORT: a new cluster; initialising"
  exit 0
fi

export PGPASSWORD="$REPLICATION_PASSWORD"
replication="host=$REPLICA_HOST port=$REPLICA_PORT user=$REPLICATION_USER dbname=replication replication=true"
if system_id=$(psql "$replication" -XAtc IDENTIFY_SYSTEM 2>/dev/null | cut -d'|' -f1) && [ -n "$system_id" ]; then
  holds="holds database system $system_id"
else
  holds="answers (a server with data runs there, though it could not be asked which database it holds)"
fi
message="payrail: refusing to initialise an empty database: $PGDATA is empty, but the read replica at $REPLICA_HOST:$REPLICA_PORT $holds. This primary's volume was lost or replaced; a new database here would take the ledger's place. Nothing was changed. Put the data back (copy the replica's database onto this volume, or restore a backup): docs/operator.md, \"A primary that lost its volume\"."
echo "$message" >&2
{ printf '%s\n' "$message" > "${TERMINATION_LOG:-/dev/termination-log}"; } 2>/dev/null || true
exit 1
