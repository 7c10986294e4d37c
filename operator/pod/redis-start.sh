#!/bin/sh
# Redis lock node, the container's command: starts redis-server with the
# node's configuration file. A node that served before (its append-only
# file exists) first waits RESTART_DELAY_SECONDS, longer than any lock it
# may have granted lives: with `appendfsync everysec` a crash can lose the
# last second of grants, and a node that forgot a lock must not vote for
# someone else while the first holder still has it (Redlock's "delayed
# restarts"). With RESTART_DELAY_SECONDS=0 (`appendfsync always`) it
# starts at once.
#
# Environment: REDIS_CONF, DATA_DIR, RESTART_DELAY_SECONDS.
set -eu
: "${REDIS_CONF:?}" "${DATA_DIR:?}"
delay="${RESTART_DELAY_SECONDS:-0}"

if [ "$delay" -gt 0 ] && [ -e "$DATA_DIR/appendonlydir" ]; then
  echo "payrail: this node served before; waiting ${delay}s, longer than any lock it granted, before serving"
  sleep "$delay"
fi
exec redis-server "$REDIS_CONF"
