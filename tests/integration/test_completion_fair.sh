#!/usr/bin/env bash
# test_completion_fair.sh DISPATCHER ADMIN RECEIVER BLACKHOLE — fair
# DR-Complete delivery against real processes, under scripts/with-pg.sh
# (OWCP_TEST_DB; FAILS without it):
#   1. 100 completions to a host that accepts connections and never answers
#      (itest_blackhole on 127.0.0.2) do not hold up one completion to a
#      healthy receiver (delivered within 5 s), and at most
#      completion_per_host (4) connections to the black hole are open at once;
#   2. Completion URIs reach neither the dispatcher's log nor the
#      confirmation log with their userinfo, query or fragment;
#   3. with two deliveries in flight at most (--completion-max 2), requestor
#      A's backlog to a slow receiver does not starve requestor B's one
#      completion (delivered within 5 s while A's backlog is still queued);
#   4. a dispatcher stopped with SIGTERM mid-delivery gives the row back: it
#      is due at once, and a second dispatcher delivers it long before the
#      60 s lease would have run out.
set -u
disp=$1 admin=$2 receiver=$3 blackhole=$4
: "${OWCP_TEST_DB:?OWCP_TEST_DB is not set: run under scripts/with-pg.sh}"
: "${OWCP_PGBIN:?OWCP_PGBIN is not set: run under scripts/with-pg.sh}"
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/owcp-fair.XXXXXX")
disp_pid='' pids=() code='' resp='' tx='' base='' token=''
fails=0

cleanup() {
  [ -n "$disp_pid" ] && kill -9 "$disp_pid" 2>/dev/null
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fails=$((fails + 1)); }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }
A() { "$admin" --db "$OWCP_TEST_DB" "$@"; }
Q() { "$OWCP_PGBIN/psql" -X -At -d "$OWCP_TEST_DB" -c "$1"; }
now_ms() { date +%s%3N; }

wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    [ "$SECONDS" -ge "$deadline" ] && return 1
    sleep 0.1
  done
}

# start_dispatcher LOG [FLAGS...]
start_dispatcher() {
  local log=$1
  shift
  rm -f "$tmp/ready"
  "$disp" --db "$OWCP_TEST_DB" --listen 127.0.0.1:0 --domain example.com \
    --key-dir "$tmp/keys" --insecure-http --ready-file "$tmp/ready" "$@" \
    2>>"$tmp/$log" &
  disp_pid=$!
  wait_for 30 test -s "$tmp/ready" || { echo "dispatcher did not start"; cat "$tmp/$log"; exit 1; }
  base=$(head -n1 "$tmp/ready")
}

stop_dispatcher() {
  kill -TERM "$disp_pid"
  wait "$disp_pid" 2>/dev/null
  disp_pid=''
}

# start_receiver NAME [FLAGS...]: an itest_receiver; its URL in $url
start_receiver() {
  local name=$1
  shift
  "$receiver" --ca-bundle "$tmp/ca.pem" --fail 0 --port-file "$tmp/$name.port" \
    --accepted "$tmp/$name.accepted" --attempts "$tmp/$name.attempts" "$@" \
    2>>"$tmp/$name.log" &
  pids+=($!)
  wait_for 10 test -s "$tmp/$name.port" || { echo "receiver $name did not start"; exit 1; }
  url="http://127.0.0.1:$(head -n1 "$tmp/$name.port")/done"
}

post() {
  code=$(curl -sS -o "$tmp/resp" -w '%{http_code}' \
    -H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
    --data-binary "$3" "$base/$2")
  resp=$(cat "$tmp/resp")
}

# confirm TOKEN FROM IDENTIFIER TIMEOUT COMPLETION: RD-Confirm; $tx, $code
confirm() {
  local xml body
  xml=$(sed -e "s|http://access.example.com/2737827178|$3|" \
    -e "s|<From>access@example.com</From>|<From>$2</From>|" \
    "$here/../data/request_draft_access.xml")
  body=$(jq -cn --arg r "$xml" --argjson t "$4" --arg c "$5" \
    '{Request: $r, Timeout: $t, Completion: $c}')
  post "$1" RD-Confirm "$body"
  tx=$(jq -r '.Transaction // empty' <<<"$resp")
}

final() { post "$1" RD-Final "$(jq -cn --arg t "$2" '{Transaction: $t}')"; }
accepted() { grep -q "\"Transaction\":\"$2\"" "$tmp/$1.accepted" 2>/dev/null; }
lines() { wc -l <"$tmp/$1" 2>/dev/null || echo 0; }
# count_is N SQL: the query's single value is N (for wait_for: evaluated
# on every try)
count_is() { [ "$(Q "$2")" = "$1" ]; }
lines_at_least() { [ "$(lines "$1")" -ge "$2" ]; }
hole_open_at_least() { [ "$(hole open)" -ge "$1" ]; }
hole() { awk -v k="$1" '{ for (i = 1; i < NF; i++) if ($i == k) print $(i + 1) }' "$tmp/hole.stats"; }

A migrate >/dev/null || { echo "migrate failed"; exit 1; }
A account add alice@example.com >/dev/null
tok_a=$(A requestor add access@example.com | head -n1)
tok_b=$(A requestor add other@example.com | head -n1)

start_dispatcher d1.log
curl -sSf "$base/CA" >"$tmp/ca.pem" || { echo "GET CA failed"; exit 1; }
start_receiver healthy
healthy=$url
"$blackhole" --host 127.0.0.2 --port-file "$tmp/hole.port" --stats "$tmp/hole.stats" 2>>"$tmp/hole.log" &
pids+=($!)
wait_for 10 test -s "$tmp/hole.port" || { echo "black hole did not start"; exit 1; }
hole_url="http://127.0.0.2:$(head -n1 "$tmp/hole.port")/never"

# 1. 100 completions into the black hole (they expire after 1 s), then one
# to the healthy receiver from the same requestor.
made=0
for i in $(seq 1 100); do
  confirm "$tok_a" access@example.com "urn:hole:$i" 1 "$hole_url"
  [ "$code" = 202 ] && made=$((made + 1))
done
check hole-confirms-202 '[ "$made" = 100 ]'
hole_rows="SELECT count(*) FROM outbox WHERE uri = '$hole_url' AND delivered_at IS NULL AND failed_at IS NULL"
check hole-all-queued 'wait_for 20 count_is 100 "$hole_rows"'
check hole-connections-open 'wait_for 20 hole_open_at_least 1'
confirm "$tok_a" access@example.com "urn:healthy:1" 300 "$healthy"
tx_h=$tx
t0=$(now_ms)
final "$tok_a" "$tx_h"
check healthy-final-408 '[ "$code" = 408 ]'
wait_for 30 accepted healthy "$tx_h"
took=$(($(now_ms) - t0))
echo "     healthy completion took $took ms beside the black hole"
check healthy-not-held-up '[ "$took" -le 5000 ]'
check hole-still-stuck 'count_is 100 "$hole_rows" && hole_open_at_least 1'
sleep 2
check hole-concurrent '[ "$(hole max)" -ge 2 ]'
check hole-per-host-cap '[ "$(hole max)" -le 4 ]'
cat "$tmp/hole.stats"

# 2. Redaction. Userinfo and fragments are refused at RD-Confirm (without
# echoing the URI); a query is allowed and kept for delivery but not
# logged; a row an older dispatcher stored with all three is redacted too.
secret_url="http://user:pw-SECRET1@127.0.0.1:${healthy#http://127.0.0.1:}?token=SECRET2#SECRET3"
confirm "$tok_a" access@example.com "urn:secret:1" 300 "$secret_url"
check userinfo-refused '[ "$code" = 400 ] && [[ $resp != *SECRET* ]]'
confirm "$tok_a" access@example.com "urn:secret:2" 300 "$healthy?token=SECRET4"
tx_s=$tx
final "$tok_a" "$tx_s"
check query-delivered 'wait_for 20 accepted healthy "$tx_s"'
old_uri="http://u:SECRET5@127.0.0.1:${healthy#http://127.0.0.1:}?k=SECRET6#SECRET7"
Q "INSERT INTO outbox (transaction_id, uri, next_attempt_at, created_at) VALUES ('$tx_s', '$old_uri', now(), now())" >/dev/null
check old-row-delivered 'wait_for 20 count_is 2 "SELECT count(*) FROM outbox WHERE transaction_id = '"'$tx_s'"' AND delivered_at IS NOT NULL"'
A log show --transaction "$tx_s" >"$tmp/chain.txt" 2>&1
check confirmation-log-names-uri 'grep -q "uri=$healthy" "$tmp/chain.txt"'
check confirmation-log-redacted '! grep -q SECRET "$tmp/chain.txt"'
check dispatcher-log-names-uri 'grep -q "delivered to $healthy" "$tmp/d1.log"'
check dispatcher-log-redacted '! grep -q SECRET "$tmp/d1.log"'
stop_dispatcher
check d1-log-redacted-after-stop '! grep -q SECRET "$tmp/d1.log"'

# 3. Turns between requestors: two deliveries at most, A's backlog of 30
# to a receiver that takes 700 ms per answer, then B's one completion.
# nothing left from part 1, delivered or queued by a later expiry
drain() {
  Q "UPDATE transactions SET completion_uri = NULL WHERE state = 'pending';
     UPDATE outbox SET failed_at = now() WHERE delivered_at IS NULL AND failed_at IS NULL" >/dev/null
}
drain
start_receiver slow --delay-ms 700
slow=$url
start_dispatcher d2.log --completion-max 2
for i in $(seq 1 30); do
  confirm "$tok_a" access@example.com "urn:slow:$i" 1 "$slow"
done
check backlog-started 'wait_for 20 lines_at_least slow.attempts 2'
confirm "$tok_b" other@example.com "urn:b:1" 300 "$healthy"
tx_b=$tx
t0=$(now_ms)
final "$tok_b" "$tx_b"
wait_for 30 accepted healthy "$tx_b"
took=$(($(now_ms) - t0))
echo "     B's completion took $took ms beside A's backlog"
check b-not-starved '[ "$took" -le 5000 ]'
check a-backlog-still-queued '[ "$(lines slow.accepted)" -lt 25 ]'
stop_dispatcher
drain

# 4. Shutdown gives rows back: one delivery to a receiver that takes 4 s,
# SIGTERM while it is in flight, a second dispatcher delivers it.
start_receiver slower --delay-ms 4000
start_dispatcher d3.log
confirm "$tok_a" access@example.com "urn:stop:1" 300 "$url"
tx_t=$tx
final "$tok_a" "$tx_t"
check in-flight-leased 'wait_for 10 count_is 1 "SELECT count(*) FROM outbox WHERE transaction_id = '"'$tx_t'"' AND next_attempt_at > now() + interval '"'30 seconds'"'"'
stop_dispatcher
check released-at-shutdown '[ "$(Q "SELECT count(*) FROM outbox WHERE transaction_id = '"'$tx_t'"' AND delivered_at IS NULL AND next_attempt_at <= now() AND attempts = 0")" = 1 ]'
start_dispatcher d4.log
t0=$SECONDS
check second-dispatcher-delivers 'wait_for 25 count_is 1 "SELECT count(*) FROM outbox WHERE transaction_id = '"'$tx_t'"' AND delivered_at IS NOT NULL"'
echo "     delivered $((SECONDS - t0)) s after the second dispatcher started"
stop_dispatcher
check log-verify 'A log verify >/dev/null'
# under OWCP_SANITIZE the processes report here (and nowhere else)
check no-sanitizer-reports '! grep -qE "AddressSanitizer|LeakSanitizer|runtime error" "$tmp"/*.log'

if [ "$fails" -ne 0 ]; then
  for f in d1 d2 d3 d4; do echo "--- $f log"; tail -n 15 "$tmp/$f.log"; done
  echo "$fails check(s) failed"
  exit 1
fi
echo "all fair completion checks passed"
