"""The connection flood of issue 26, item 2, against a running payment-app.

    python3 bench/connection-flood.py PORT TOKEN ADDRESSES

Opens 1,024 keep-alive connections to 127.0.0.1:PORT, each sending one
unauthenticated `GET /healthz` and then held open, from ADDRESSES source
addresses (127.0.1.2, 127.0.1.3, ...: all loopback on Linux, so the
per-client cap and the unauthenticated budget can be told apart); then
sends three authenticated requests from 127.0.0.1 and prints how each was
answered. Before the connection budgets the 1,025th connection timed out
and authenticated clients got nothing; now they must get their 200 at once.
Start the app as scripts/bench-k6 does (its own database, vhost and Redis
db, API_TOKENS=TOKEN, HTTP_ADDR=127.0.0.1:PORT). Traffic stays on loopback
and the script stops by itself.
"""

import http.client
import socket
import sys
import time

port, token, spread = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
held, failed = [], 0
started = time.time()
for i in range(1024):
    s = socket.socket()
    s.settimeout(5)
    try:
        s.bind((f"127.0.{1 + (i % spread) // 250}.{2 + (i % spread) % 250}", 0))
        s.connect(("127.0.0.1", port))
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: payrail\r\n\r\n")
        held.append(s)
    except OSError:
        failed += 1
print(f"{len(held)} attacker connections from {spread} addresses opened in {time.time() - started:.1f}s "
      f"({failed} failed to open)")
for attempt in range(1, 4):
    started = time.time()
    client = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        client.request("GET", "/api/v1/accounts?limit=1", headers={"Authorization": f"Bearer {token}"})
        answer = client.getresponse()
        answer.read()
        print(f"authenticated request {attempt}: {answer.status} in {time.time() - started:.3f}s")
    except OSError as e:
        print(f"authenticated request {attempt}: failed after {time.time() - started:.1f}s: {e}")
    finally:
        client.close()
    time.sleep(1)
for s in held:
    s.close()
