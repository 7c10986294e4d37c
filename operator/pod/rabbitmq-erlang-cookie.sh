#!/bin/sh
# RabbitMQ, init container, at every start of the pod: puts the Erlang
# cookie from the credentials Secret where Erlang and the CLI tools read it
# ($HOME/.erlang.cookie; the image's HOME is its data directory, on the
# volume), readable by its owner only.
#
# Erlang refuses to start with a cookie file anyone else may read ("must be
# accessible by owner only"), and the kubelet adds group read-write to
# every file of a volume at each mount of a pod with an fsGroup: a cookie
# left on the volume by the last start would keep the broker from ever
# starting again. RabbitMQ's cluster-operator does the same in its setup
# container. One cookie for every node, from the Secret, is also what lets
# the nodes of a cluster and the probes' CLI tools talk to each other.
#
# Environment: HOME, ERLANG_COOKIE.
set -eu
: "${HOME:?}" "${ERLANG_COOKIE:?}"
cookie="$HOME/.erlang.cookie"
umask 077
# Written beside it and moved into place: a start cut short never leaves
# half a cookie.
printf '%s' "$ERLANG_COOKIE" > "$cookie.new"
chmod 600 "$cookie.new"
mv -f "$cookie.new" "$cookie"
echo "payrail: Erlang cookie in place at $cookie, readable by its owner only"
