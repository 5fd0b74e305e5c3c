#!/usr/bin/env bash
# Called by scripts/run.sh inside scripts/with-pg.sh (OWCP_TEST_DB is the
# throwaway database): migrates it, creates a demo requestor and account,
# prints how to reach the dispatcher, and runs it in the foreground.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${1:-8480}
admin=build/dispatcher/owcp-admin
db=$OWCP_TEST_DB
# Keys live beside the throwaway cluster and are removed with it.
keys="$OWCP_PGHOST/keys"

"$admin" --db "$db" migrate >/dev/null
token=$("$admin" --db "$db" requestor add access@example.com | tail -n 1)
"$admin" --db "$db" account add alice@example.com >/dev/null
code=$("$admin" --db "$db" code issue alice@example.com | tail -n 1)
base="http://127.0.0.1:$PORT/owcp/0.1"

cat <<EOT

owcp dispatcher (demo; the database is removed when you stop it)
  base URL:            $base
  health:              http://127.0.0.1:$PORT/healthz
  client CA (PEM):     $base/CA
  requestor:           access@example.com   token: $token
  account:             alice@example.com    enrollment code: $code

  try:  curl -s -H 'Authorization: Bearer $token' -H 'Content-Type: application/json' \\
          -d '{"Request":"<Request xmlns=\\"http://schema.comodo.com/2011/owcp/0.1\\"><Header identifier=\\"urn:demo:1\\"><From>access@example.com</From><To>alice@example.com</To><Summary>Connect laptop #234?</Summary></Header></Request>"}' \\
          $base/RD-Confirm
  admin: $admin --db '$db' --help
Ctrl-C stops it.

EOT
exec build/dispatcher/owcp-dispatcher --db "$db" --listen "127.0.0.1:$PORT" \
  --domain example.com --insecure-http --key-dir "$keys"
