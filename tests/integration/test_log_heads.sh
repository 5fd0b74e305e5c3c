#!/usr/bin/env bash
# test_log_heads.sh DISPATCHER ADMIN — a log that proves its own
# completeness (issue 10 §3, spec §10) and owcp-admin's escaping of stored
# text (§6), against real processes under scripts/with-pg.sh
# (OWCP_TEST_DB; FAILS without it):
#   1. GET {base}/Log-Head is signed (checked with the openssl command
#      against the dispatcher's certificate); heads are appended to the
#      head file at the interval and at shutdown;
#   2. log show --json carries position and hash; log show --csv;
#   3. log verify --head passes on the intact log and FAILS after the
#      newest entries are deleted, after TRUNCATE, and after a rewrite with
#      recomputed hashes (each done as the superuser, on a copy of the
#      database), while the chain alone (--no-head) still says OK; plain
#      log verify with --config uses the configured head file and prints
#      the position and hash it verified;
#   4. control and bidi characters stored in the database are printed
#      escaped by every owcp-admin command that shows them.
set -u
disp=$1 admin=$2
: "${OWCP_TEST_DB:?OWCP_TEST_DB is not set: run under scripts/with-pg.sh}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/owcp-logheads.XXXXXX")
disp_pid='' base=''
fails=0
# shellcheck source=itest_lib.sh
. "$(dirname "$0")/itest_lib.sh"

cleanup() {
  [ -n "$disp_pid" ] && kill -9 "$disp_pid" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

A() { "$admin" --db "$OWCP_TEST_DB" "$@"; }
psql() { "$OWCP_PGBIN/psql" -qAt -v ON_ERROR_STOP=1 "$@"; }

lines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }
at_least_lines() { [ "$(lines "$1")" -ge "$2" ]; }

start_dispatcher() { # INTERVAL
  rm -f "$tmp/ready"
  "$disp" --db "$OWCP_TEST_DB" --listen 127.0.0.1:0 --domain example.com \
    --key-dir "$tmp/keys" --insecure-http --ready-file "$tmp/ready" \
    --log-head-interval "$1" --log-head-file "$tmp/heads.jsonl" \
    2>>"$tmp/dispatcher.log" &
  disp_pid=$!
  wait_for 30 test -s "$tmp/ready" || { echo "dispatcher did not start"; cat "$tmp/dispatcher.log"; exit 1; }
  base=$(head -n1 "$tmp/ready")
}

stop_dispatcher() {
  kill -TERM "$disp_pid"
  wait "$disp_pid"
  local rc=$?
  disp_pid=''
  [ "$rc" -eq 0 ] || bad "dispatcher exit status $rc"
}

A migrate >/dev/null || { echo "migrate failed"; exit 1; }
A account add alice@example.com >/dev/null
A requestor add access@example.com >/dev/null

# ---- 1. signed heads ------------------------------------------------------
start_dispatcher 1
check heads-at-interval 'wait_for 10 at_least_lines "$tmp/heads.jsonl" 3'
code=$(curl -sS -o "$tmp/head.json" -w '%{http_code}' "$base/Log-Head")
check log-head-200 '[ "$code" = 200 ]'
check log-head-fields 'jq -e "(.Position|type) == \"number\" and (.Hash|test(\"^[0-9a-f]{64}\$\")) and (.Time|test(\"Z\$\")) and (.KeyId|test(\"^[0-9a-f]{64}\$\"))" "$tmp/head.json" >/dev/null'
pos=$(jq -r .Position "$tmp/head.json") hash=$(jq -r .Hash "$tmp/head.json")
printf 'owcp-log-head\n%s\n%s\n%s' "$pos" "$hash" "$(jq -r .Time "$tmp/head.json")" >"$tmp/signed.txt"
jq -r .Signature "$tmp/head.json" | base64 -d >"$tmp/sig.der"
openssl x509 -in "$tmp/keys/signing.pem" -pubkey -noout >"$tmp/pub.pem"
expect head-signature-openssl 0 'Verified OK' -- \
  openssl dgst -sha256 -verify "$tmp/pub.pem" -signature "$tmp/sig.der" "$tmp/signed.txt"
check head-keyid-is-cert '[ "$(jq -r .KeyId "$tmp/head.json")" = "$(openssl x509 -in "$tmp/keys/signing.pem" -outform DER | sha256sum | cut -d" " -f1)" ]'
check head-hash-is-chain '[ "$pos" = 0 ] || [ "$(psql "$OWCP_TEST_DB" -c "SELECT encode(hash, '"'hex'"') FROM log_chain WHERE pos = $pos")" = "$hash" ]'
curl -sS -o "$tmp/ca.pem" "$base/CA"
stop_dispatcher
# At shutdown: with a long interval, an entry made after the start-up
# head is covered by a head signed when the dispatcher stops.
start_dispatcher 3600
wait_for 10 at_least_lines "$tmp/heads.jsonl" 1
A account add bob@example.com >/dev/null
before=$(lines "$tmp/heads.jsonl")
stop_dispatcher
tip=$(psql "$OWCP_TEST_DB" -c "SELECT max(pos) FROM log_chain")
check head-at-shutdown '[ "$(lines "$tmp/heads.jsonl")" -eq $((before + 1)) ] && [ "$(tail -n1 "$tmp/heads.jsonl" | jq .Position)" = "$tip" ]'
check head-file-lines-are-heads 'jq -se "all(.[]; has(\"Signature\"))" "$tmp/heads.jsonl" >/dev/null'
tail -n1 "$tmp/heads.jsonl" >"$tmp/last-head.json"

# ---- 2. log show --json / --csv --------------------------------------------
entries=$(psql "$OWCP_TEST_DB" -c "SELECT count(*) FROM log")
first_hash=$(psql "$OWCP_TEST_DB" -c "SELECT encode(hash, 'hex') FROM log_chain WHERE pos = 1")
check json-position-hash 'A log show --json | head -n1 | jq -e --arg h "$first_hash" ".position == 1 and .hash == \$h" >/dev/null'
A log show --csv >"$tmp/log.csv"
check csv-header '[ "$(head -n1 "$tmp/log.csv")" = "position,time,event,account,requestor,client,transaction,hash" ]'
check csv-rows '[ "$(wc -l <"$tmp/log.csv")" -eq $((entries + 1)) ]'
check csv-first-row 'sed -n 2p "$tmp/log.csv" | grep -Eq "^1,[0-9T:.Z-]+,[a-z]+\.[a-z]+,.*,$first_hash\$"'
expect json-csv-exclusive 2 'exclude' -- A log show --json --csv

# ---- 3. verification against signed heads ----------------------------------
expect verify-head-intact 0 "verified position: $tip" -- A log verify --head "$tmp/last-head.json" --cert "$tmp/keys/signing.pem"
expect verify-head-hash-printed 0 "verified hash: [0-9a-f]{64}" -- A log verify --head "$tmp/head.json" --cert "$tmp/ca.pem"
expect verify-head-needs-cert 2 'no certificate' -- A log verify --head "$tmp/head.json"
jq -c ".Position = $((tip - 1))" "$tmp/last-head.json" >"$tmp/forged-head.json"
expect verify-forged-head 1 'signature does not verify' -- A log verify --head "$tmp/forged-head.json" --cert "$tmp/keys/signing.pem"
cat >"$tmp/dispatcher.conf" <<CONF
[dispatcher]
db = $OWCP_TEST_DB
listen = 127.0.0.1:0
domain = example.com
key_dir = $tmp/keys
insecure_http = yes
log_head_file = $tmp/heads.jsonl
CONF
expect verify-config-heads 0 "extends [0-9]+ signed head\(s\) of $tmp/heads.jsonl" -- "$admin" --config "$tmp/dispatcher.conf" log verify
expect verify-config-prints 0 "verified position: $tip" -- "$admin" --config "$tmp/dispatcher.conf" log verify
sed 's|^log_head_file = .*|log_head_file = '"$tmp"'/missing.jsonl|' "$tmp/dispatcher.conf" >"$tmp/missing.conf"
expect verify-config-missing-file 1 'does not exist' -- "$admin" --config "$tmp/missing.conf" log verify

# Each attack on its own copy of the intact database, as the superuser.
attack() { # NAME SQL
  local db="copy_$1"
  "$OWCP_PGBIN/createdb" -h "$OWCP_PGHOST" -U postgres -T owcp "$db"
  psql "host=$OWCP_PGHOST user=postgres dbname=$db" -c \
    "ALTER TABLE log DISABLE TRIGGER ALL; ALTER TABLE log_chain DISABLE TRIGGER ALL; $2"
  expect "$1-chain-alone-ok" 0 'log chain OK' -- "$admin" --db "host=$OWCP_PGHOST user=postgres dbname=$db" log verify
  expect "$1-head-fails" 1 "$3" -- "$admin" --db "host=$OWCP_PGHOST user=postgres dbname=$db" log verify --head "$tmp/heads.jsonl" --cert "$tmp/keys/signing.pem"
}
attack delete-newest "DELETE FROM log_chain WHERE pos > $tip - 2; DELETE FROM log WHERE seq NOT IN (SELECT seq FROM log_chain)" 'no longer reaches position'
attack truncate "TRUNCATE log_chain, log" 'no longer reaches position'
attack rewrite "DELETE FROM log_chain; UPDATE log SET detail = 'forged' WHERE seq = 2; UPDATE log_seal_horizon SET xid = '0'" 'hash differs from the head'

# ---- 4. escaping -----------------------------------------------------------
esc=$'\e[2J\e]0;pwned\a' rlo=$'\u202e' c1=$'\u009b'
acc_id=$(psql "$OWCP_TEST_DB" -c "SELECT id FROM accounts WHERE address = 'alice@example.com'")
psql "$OWCP_TEST_DB" -v d="Evil${esc}phone${rlo}gnp.exe${c1}31m" -v a="m${esc}all${rlo}ory@example.com" <<'SQL'
INSERT INTO accounts (address) VALUES (:'a');
INSERT INTO clients (id, account_id, description, token_hash, cert_der)
  SELECT 'hostileclient0001', id, :'d', sha256('x'), '\x00' FROM accounts WHERE address = :'a';
SELECT owcp_log_append('client.registered', :'a', NULL, NULL, 'hostileclient0001', :'d');
SQL
# no_raw OUTPUT-FILE: no ESC, BEL, C1 or U+202E left, and the escapes shown.
no_raw() { ! LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]\|\xc2[\x80-\x9f]\|\xe2\x80\xae' "$1" && grep -qi '\\x1b\|\\u001b' "$1" && grep -q '\\u202e' "$1"; }
for cmd in "client list" "account list" "log show" "log show --json" "log show --csv"; do
  # shellcheck disable=SC2086
  A $cmd >"$tmp/out" 2>&1
  check "escaped: $cmd" 'no_raw "$tmp/out"'
done
check escaped-text-form 'A client list | grep -qF "Evil\\x1b[2J\\x1b]0;pwned\\x07phone\\u202egnp.exe\\u009b31m"'
check escaped-json-valid 'A log show --json | tail -n1 | jq -e ".detail | contains(\"\u202e\")" >/dev/null'

echo "$fails failure(s)"
[ "$fails" -eq 0 ]
