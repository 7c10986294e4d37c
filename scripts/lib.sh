# Shared by the scripts here (source it; it runs nothing by itself).
# shellcheck shell=bash

# The version of the PostgreSQL cluster this machine runs on 127.0.0.1:5432
# (Debian keeps it as /etc/postgresql/<version>/main); the newest if there
# are several. Its binaries, and its configuration, are the ones to use:
# a replica or a throwaway server must match the primary's major version.
pg_version() { ls /etc/postgresql | sort -V | tail -n 1; }
pg_bin() { echo "/usr/lib/postgresql/$(pg_version)/bin"; }
pg_conf_dir() { echo "/etc/postgresql/$(pg_version)/main"; }

# A TCP port on 127.0.0.1 that was free a moment ago (the kernel picked it).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# A fresh payrail for a benchmark: database $1 dropped (payment-app creates
# it again), RabbitMQ vhost $2 made anew for guest, Redis db $3 emptied.
fresh_payrail() {
  PGOPTIONS="-c client_min_messages=warning" psql -q postgres://postgres@127.0.0.1:5432/postgres \
    -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)"
  rabbitmqctl -q delete_vhost "$2" 2>/dev/null || true
  rabbitmqctl -q add_vhost "$2"
  rabbitmqctl -q set_permissions -p "$2" guest '.*' '.*' '.*'
  redis-cli -n "$3" flushdb >/dev/null
}

# A process we started, known by its pid *and* its start time (field 22 of
# /proc/PID/stat, in clock ticks since boot): a pid the kernel hands to
# another process after ours exited has a later start time. The start time
# is set at fork and kept across exec, so a process is ours from the moment
# `&` returns, before it has exec'd anything (its command line is then
# still the caller's).
#
#   proc_record PID FILE   write "PID START" to FILE (START empty if PID
#                          has already exited)
#   proc_alive FILE        print the pid in FILE if that process is still
#                          ours and running (not a zombie), else fail
proc_start() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  # Fields after the command name, which is in parentheses and may itself
  # hold spaces or parentheses: state is the first, start time the 20th.
  # shellcheck disable=SC2086 # split into fields on purpose
  set -- ${stat##*) }
  [ "$1" != Z ] && [ "$1" != X ] && echo "${20}"
}
proc_record() { echo "$1 $(proc_start "$1" || true)" > "$2"; }
proc_alive() {
  local pid start
  read -r pid start 2>/dev/null < "$1" || return 1
  [ -n "$pid" ] && [ -n "$start" ] && [ "$(proc_start "$pid" 2>/dev/null)" = "$start" ] && echo "$pid"
}

# The TypeScript client's node_modules as clients/typescript/package-lock.json
# pins them, from the npm cache under ~/.cache/payrail; skipped when they were
# installed from this very lock already (npm ci would delete and relink them).
clients_npm_ci() {
  local dir=clients/typescript stamp
  stamp=$(sha256sum "$dir/package-lock.json" | cut -c1-64)
  [ "$(cat "$dir/node_modules/.payrail-lock" 2>/dev/null)" = "$stamp" ] && return 0
  (cd "$dir" && npm ci --cache "${XDG_CACHE_HOME:-$HOME/.cache}/payrail/npm" --prefer-offline --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$stamp" > "$dir/node_modules/.payrail-lock"
}
