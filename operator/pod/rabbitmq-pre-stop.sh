# RabbitMQ cluster node, preStop (run by `sh -c`). A node that stops while
# another is down can take a quorum queue below its majority, so it first
# waits (up to AWAIT_SECONDS) until every quorum queue keeps a majority
# without it, then hands its queue leaders and clients over (drain).
#
# Not when the whole PaymentCluster is being deleted: every node is going,
# no majority is left to keep, and each broker would wait its full 10
# minutes. The operator then marks the pods (an annotation, which the
# kubelet projects into the file DELETING_MARK through a downward API
# volume) before it lets the deletion proceed; a node that finds the file
# non-empty stops at once. The kubelet may project the mark a moment after
# this hook began, so the wait runs in the background and the file is
# read again every 2 s.
#
# Environment: DELETING_MARK (the projected file); AWAIT_SECONDS,
# DRAIN_SECONDS.
marked() { [ -s "$DELETING_MARK" ]; }
if marked; then
  echo "payrail: the cluster is being deleted; stopping without waiting for quorum"
  exit 0
fi
rabbitmq-upgrade await_online_quorum_plus_one -t "$AWAIT_SECONDS" &
waiting=$!
while kill -0 "$waiting" 2>/dev/null; do
  if marked; then
    kill "$waiting" 2>/dev/null
    echo "payrail: the cluster is being deleted; stopping without waiting for quorum"
    exit 0
  fi
  sleep 2
done
wait "$waiting"
rabbitmq-upgrade drain -t "$DRAIN_SECONDS"
