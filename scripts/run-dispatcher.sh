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

# The token goes to a 0600 file: owcp-request reads tokens only from files.
tokenfile="$OWCP_PGHOST/requestor.token"
(umask 077 && printf '%s\n' "$token" >"$tokenfile")
state="$OWCP_PGHOST/client-state"
client="build/client-lib/owcp-client --state-dir $state --dispatcher $base --insecure-http"
request_opts="--from access@example.com --token-file $tokenfile --dispatcher $base --insecure-http"

cat <<EOT

owcp dispatcher (demo; the database is removed when you stop it)
  base URL:            $base
  health:              http://127.0.0.1:$PORT/healthz
  client CA (PEM):     $base/CA
  requestor:           access@example.com   token: $token
                       (also in $tokenfile)
  account:             alice@example.com    enrollment code: $code

  In another terminal, the user's device (asks for a new PIN):
    $client register alice@example.com --code $code --pin
    $client watch
  and in a third, the VPN asking alice (exit 0 only on a verified Accept):
    build/requestor-lib/owcp-request confirm $request_opts --to alice@example.com --summary "Connect laptop #234 to the corporate network?" --pin --wait
  admin: $admin --db '$db' --help
Ctrl-C stops it.

EOT
exec build/dispatcher/owcp-dispatcher --db "$db" --listen "127.0.0.1:$PORT" \
  --domain example.com --insecure-http --key-dir "$keys"
