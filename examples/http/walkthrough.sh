#!/usr/bin/env bash
# The README's walk-through against a running payrail (scripts/dev):
# two accounts, a payment that settles, one that fails, and the errors.
#   TOKEN=<token> BASE=http://127.0.0.1:8080 examples/http/walkthrough.sh
set -euo pipefail
BASE=${BASE:-http://127.0.0.1:8080}
: "${TOKEN:?set TOKEN to an API token (payment-app prints one at start when API_TOKENS is unset)}"
curl() { command curl -H "Authorization: Bearer $TOKEN" "$@"; }
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
show() { echo "\$ $*" >&2; }

show "POST /api/v1/accounts {initial_balance: 100.00}"
A=$(curl -sf -X POST "$BASE/api/v1/accounts" -H 'content-type: application/json' \
      -d '{"initial_balance": "100.00"}' | tee /dev/stderr | json '["id"]')
echo >&2
show "POST /api/v1/accounts (no body: balance 0.00)"
B=$(curl -sf -X POST "$BASE/api/v1/accounts" | tee /dev/stderr | json '["id"]')
echo >&2

show "POST /api/v1/payment 99.01"
P=$(curl -sf -X POST "$BASE/api/v1/payment" -H 'content-type: application/json' \
      -d "{\"from_account\": \"$A\", \"to_account\": \"$B\", \"amount\": \"99.01\", \"payment_description\": \"this is a payment desc.\"}" \
      | tee /dev/stderr | json '["id"]')
echo >&2

show "POST /api/v1/payment 5.00 (only 0.99 left: will fail)"
Q=$(curl -sf -X POST "$BASE/api/v1/payment" -H 'content-type: application/json' \
      -d "{\"from_account\": \"$A\", \"to_account\": \"$B\", \"amount\": \"5.00\"}" | json '["id"]')

sleep 1
show "GET /api/v1/payment/$P"
curl -s "$BASE/api/v1/payment/$P"; echo
show "GET /api/v1/payment/$Q"
curl -s "$BASE/api/v1/payment/$Q"; echo
show "GET /api/v1/accounts/$A"
curl -s "$BASE/api/v1/accounts/$A"; echo
show "GET /api/v1/accounts/$B"
curl -s "$BASE/api/v1/accounts/$B"; echo

show "POST /api/v1/payment with a bad amount"
curl -s -X POST "$BASE/api/v1/payment" -H 'content-type: application/json' \
  -d "{\"from_account\": \"$A\", \"to_account\": \"$B\", \"amount\": \"1e3\"}"; echo
