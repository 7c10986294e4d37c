#!/bin/sh
# Redis lock node, the container's command: starts redis-server with the
# node's configuration file, after waiting RESTART_DELAY_SECONDS, longer
# than any lock it may have granted lives (Redlock's "delayed restarts"):
# a node that forgot a lock must not vote for someone else while the first
# holder still has it.
# - A node that served before (its append-only file is on the volume) may
#   have lost the last second of grants to a crash (`appendfsync everysec`).
# - A node on an empty volume remembers no grant at all, and cannot tell a
#   new cluster's first start from a node whose volume was lost (a deleted
#   claim, a dead local disk) after it granted locks: it waits too. A new
#   cluster pays the delay once.
# RESTART_DELAY_SECONDS is the wait of a node that served before: 0 with
# `appendfsync always`, where a crash loses no grant. EMPTY_VOLUME_DELAY_SECONDS
# (RESTART_DELAY_SECONDS when unset) is the wait on an empty volume, which
# fsyncing cannot help.
#
# Environment: REDIS_CONF, DATA_DIR, RESTART_DELAY_SECONDS, EMPTY_VOLUME_DELAY_SECONDS.
set -eu
: "${REDIS_CONF:?}" "${DATA_DIR:?}"
delay="${RESTART_DELAY_SECONDS:-0}"
empty_delay="${EMPTY_VOLUME_DELAY_SECONDS:-$delay}"

# appendonlydir: Redis 7; appendonly.aof: earlier versions.
if [ -e "$DATA_DIR/appendonlydir" ] || [ -e "$DATA_DIR/appendonly.aof" ]; then
  if [ "$delay" -gt 0 ]; then
    echo "payrail: this node served before; waiting ${delay}s, longer than any lock it granted, before serving"
    sleep "$delay"
  fi
elif [ "$empty_delay" -gt 0 ]; then
  echo "payrail: empty volume (a new node, or one whose volume was lost); waiting ${empty_delay}s, longer than any lock it may have granted, before serving"
  sleep "$empty_delay"
fi
exec redis-server "$REDIS_CONF"
