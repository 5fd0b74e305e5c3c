#!/usr/bin/env bash
# `owcp-client register` takes the enrollment code from a file
# (--code-file FILE) or from standard input (--code - or --code-file -), so
# that it never has to appear in argv, which every local user can read; a
# file others can read, a missing or empty file and empty input are refused
# with a sentence naming the problem. Against a real dispatcher.
# Run under scripts/with-pg.sh (OWCP_TEST_DB).
#
#   test_client_code.sh OWCP_CLIENT OWCP_DISPATCHER OWCP_ADMIN
set -uo pipefail

client=$1 dispatcher=$2 admin=$3
db=$OWCP_TEST_DB
tmp=$(mktemp -d "${TMPDIR:-/tmp}/owcp-code.XXXXXX")
disp_pid=
fails=0
# shellcheck source=tests/integration/itest_lib.sh
. "$(dirname "$0")/itest_lib.sh"

cleanup() {
  if [ -n "$disp_pid" ]; then kill "$disp_pid" 2>/dev/null || true; wait "$disp_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

umask 077
"$admin" --db "$db" migrate >/dev/null || { echo "FAIL migrate"; exit 1; }
for a in alice bob carol dave; do
  "$admin" --db "$db" account add "$a@example.com" >/dev/null
done
code() { "$admin" --db "$db" code issue "$1@example.com" | tail -n 1; }

"$dispatcher" --db "$db" --listen 127.0.0.1:0 --domain example.com \
  --insecure-http --key-dir "$tmp/keys" --ready-file "$tmp/ready" \
  2>"$tmp/dispatcher.log" &
disp_pid=$!
wait_for 10 test -s "$tmp/ready" || { echo "FAIL dispatcher: $(tail -5 "$tmp/dispatcher.log")"; exit 1; }
base=$(head -n 1 "$tmp/ready")
case $base in */owcp/0.1) ;; *) base="$base/owcp/0.1" ;; esac
cl=("$client" --state-dir "$tmp/state" --dispatcher "$base" --insecure-http)

# A private file registers.
code alice >"$tmp/alice.code"
chmod 600 "$tmp/alice.code"
expect "--code-file FILE registers" 0 "Registered this device for alice@example.com" -- \
  "${cl[@]}" register alice@example.com --code-file "$tmp/alice.code"

# Refusals name the problem and change nothing.
code bob >"$tmp/bob.code"
chmod 644 "$tmp/bob.code"
expect "a code file others can read is refused" 1 "group and others cannot access" -- \
  "${cl[@]}" register bob@example.com --code-file "$tmp/bob.code"
expect "a missing code file is refused" 1 "cannot open code file '$tmp/nothing'" -- \
  "${cl[@]}" register bob@example.com --code-file "$tmp/nothing"
: >"$tmp/empty.code"
chmod 600 "$tmp/empty.code"
expect "an empty code file is refused" 1 "code file '$tmp/empty.code' is empty" -- \
  "${cl[@]}" register bob@example.com --code-file "$tmp/empty.code"
expect "empty standard input is refused" 1 "no enrollment code on standard input" -- \
  "${cl[@]}" register bob@example.com --code - </dev/null
expect "--code and --code-file exclude each other" 2 "exclude each other" -- \
  "${cl[@]}" register bob@example.com --code x --code-file "$tmp/bob.code"
check "nothing was registered for bob" \
  "! \"\${cl[@]}\" accounts | grep -q bob@example.com"

# Standard input, both spellings; the code is never in argv.
expect "--code - reads standard input" 0 "Registered this device for bob@example.com" -- \
  "${cl[@]}" register bob@example.com --code - <"$tmp/bob.code"
expect "--code-file - reads standard input" 0 "Registered this device for carol@example.com" -- \
  "${cl[@]}" register carol@example.com --code-file - < <(code carol)
# The old form still works (documented as visible to other users).
expect "--code CODE still works" 0 "Registered this device for dave@example.com" -- \
  "${cl[@]}" register dave@example.com --code "$(code dave)"
check "all four registered" \
  "[ \"\$(\"\${cl[@]}\" accounts | wc -l)\" -eq 4 ]"
expect "--help says --code is visible to other users" 0 "visible to every local user" -- \
  "${cl[@]}" --help

[ "$fails" -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
