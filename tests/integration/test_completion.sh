#!/usr/bin/env bash
# test_completion.sh DISPATCHER ADMIN RECEIVER — DR-Complete delivery end to
# end, under scripts/with-pg.sh (OWCP_TEST_DB; FAILS without it):
#   1. a transaction that expires is delivered as Status 408 to a receiver
#      that refuses the first attempts; the dispatcher is killed with -9
#      while the receiver is refusing and restarted, and delivery still
#      happens (at least once), signed with the certificate from {base}/CA,
#      with growing gaps between attempts (backoff);
#   2. a transaction cancelled by RD-Final is delivered as Status 408;
#   3. the confirmation log records completion.delivered and its chain
#      verifies.
set -u
disp=$1 admin=$2 receiver=$3
: "${OWCP_TEST_DB:?OWCP_TEST_DB is not set: run under scripts/with-pg.sh}"
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/owcp-completion.XXXXXX")
disp_pid='' rx_pid='' code='' resp='' tx='' base='' completion=''
fails=0

cleanup() {
  [ -n "$disp_pid" ] && kill -9 "$disp_pid" 2>/dev/null
  [ -n "$rx_pid" ] && kill "$rx_pid" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fails=$((fails + 1)); }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }
A() { "$admin" --db "$OWCP_TEST_DB" "$@"; }

# wait_for SECONDS COMMAND...: polls COMMAND every 0.1 s until it succeeds.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    [ "$SECONDS" -ge "$deadline" ] && return 1
    sleep 0.1
  done
}

start_dispatcher() {
  rm -f "$tmp/ready"
  "$disp" --db "$OWCP_TEST_DB" --listen 127.0.0.1:0 --domain example.com \
    --key-dir "$tmp/keys" --insecure-http --ready-file "$tmp/ready" \
    2>>"$tmp/dispatcher.log" &
  disp_pid=$!
  wait_for 30 test -s "$tmp/ready" || { echo "dispatcher did not start"; cat "$tmp/dispatcher.log"; exit 1; }
  base=$(head -n1 "$tmp/ready")
}

# post OPERATION JSON: the response body into $resp, HTTP status into $code
# (not in a subshell, so that both stay set).
post() {
  code=$(curl -sS -o "$tmp/resp" -w '%{http_code}' \
    -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    --data-binary "$2" "$base/$1")
  resp=$(cat "$tmp/resp")
}

# confirm IDENTIFIER TIMEOUT: RD-Confirm with Completion; Transaction in $tx.
confirm() {
  local xml body
  xml=$(sed "s|http://access.example.com/2737827178|$1|" \
    "$here/../data/request_draft_access.xml")
  body=$(jq -cn --arg r "$xml" --argjson t "$2" --arg c "$completion" \
    '{Request: $r, Timeout: $t, Completion: $c}')
  post RD-Confirm "$body"
  tx=$(jq -r .Transaction <<<"$resp")
}

accepted_for() { grep -c "\"Transaction\":\"$1\"" "$tmp/accepted" 2>/dev/null; }
delivered() { [ "$(accepted_for "$1")" -ge 1 ]; }
attempts_at_least() { [ "$(wc -l <"$tmp/attempts" 2>/dev/null || echo 0)" -ge "$1" ]; }

A migrate >/dev/null || { echo "migrate failed"; exit 1; }
A account add alice@example.com >/dev/null
token=$(A requestor add access@example.com | head -n1)
touch "$tmp/accepted" "$tmp/attempts"

start_dispatcher
curl -sSf "$base/CA" >"$tmp/ca.pem" || { echo "GET CA failed"; exit 1; }
check ca-bundle-has-two-certs '[ "$(grep -c "BEGIN CERTIFICATE" "$tmp/ca.pem")" = 2 ]'

# The receiver refuses the first 4 attempts: 1+2+4 s of backoff before the
# 4th failure, so the dispatcher is killed while it is still refusing.
"$receiver" --ca-bundle "$tmp/ca.pem" --fail 4 --port-file "$tmp/port" \
  --accepted "$tmp/accepted" --attempts "$tmp/attempts" 2>>"$tmp/receiver.log" &
rx_pid=$!
wait_for 10 test -s "$tmp/port" || { echo "receiver did not start"; exit 1; }
completion="http://127.0.0.1:$(head -n1 "$tmp/port")/done"

# 1. expiry, refusals, kill -9, restart, delivery.
confirm "urn:test:expire" 1
tx1=$tx
check rd-confirm-202 '[ "$code" = 202 ] && [ -n "$tx1" ] && [ "$tx1" != null ]'
check first-attempt-refused 'wait_for 20 attempts_at_least 2'
kill -9 "$disp_pid"
wait "$disp_pid" 2>/dev/null
disp_pid=''
check not-delivered-while-refusing '! delivered "$tx1"'
start_dispatcher
# a send cut off by kill -9 comes back when its 60 s lease ends
check delivered-after-restart 'wait_for 120 delivered "$tx1"'
body=$(grep "\"Transaction\":\"$tx1\"" "$tmp/accepted" | head -n1)
check body-is-dr-complete '[ "$(jq -r .Operation <<<"$body")" = DR-Complete ]'
check body-status-408 '[ "$(jq -r .Status <<<"$body")" = 408 ] && [ "$(jq -r .Text <<<"$body")" = Timeout ]'
check body-identifier '[ "$(jq -r .Identifier <<<"$body")" = urn:test:expire ]'
check body-has-no-response '[ "$(jq -r ".Response // \"none\"" <<<"$body")" = none ]'
check refused-then-accepted '[ "$(grep -c " 500$" "$tmp/attempts")" = 4 ] && [ "$(grep -c " 200$" "$tmp/attempts")" -ge 1 ]'
check no-bad-signatures '! grep -q "bad signature" "$tmp/receiver.log"'
# backoff: the gaps between the refused attempts follow 1 s, 2 s, 4 s; the
# restart may stretch one (up to the 60 s lease) or, when the kill lost a
# recorded failure, shift the schedule by one, so the third gap is >= 2 s
gaps=$(awk 'NR > 1 { print $1 - prev } { prev = $1 }' "$tmp/attempts" | head -n3 | tr '\n' ' ')
check backoff-grows 'read -r g1 g2 g3 <<<"$gaps"; [ "$g1" -ge 800 ] && [ "$g2" -ge 1800 ] && [ "$g3" -ge 1800 ]'
sleep 2
check delivered-once-when-acknowledged '[ "$(accepted_for "$tx1")" = 1 ]'

# 2. RD-Final cancels a pending transaction: delivered as 408 at once.
confirm "urn:test:cancel" 300
tx2=$tx
post RD-Final "$(jq -cn --arg t "$tx2" '{Transaction: $t}')"
check rd-final-408 '[ "$code" = 408 ]'
check cancelled-delivered 'wait_for 20 delivered "$tx2"'
body=$(grep "\"Transaction\":\"$tx2\"" "$tmp/accepted" | head -n1)
check cancelled-body-408 '[ "$(jq -r .Status <<<"$body")" = 408 ] && [ "$(jq -r .Identifier <<<"$body")" = urn:test:cancel ]'

# 3. the confirmation log.
check log-completion-delivered '[ "$(A log show --transaction "$tx1" --event completion.delivered | grep -c completion.delivered)" -ge 1 ]'
check log-verify 'A log verify >/dev/null'

if [ "$fails" -ne 0 ]; then
  echo "--- dispatcher log"; tail -n 40 "$tmp/dispatcher.log"
  echo "--- receiver log"; cat "$tmp/receiver.log"
  echo "$fails check(s) failed"
  exit 1
fi
echo "all completion checks passed"
