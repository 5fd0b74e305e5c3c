#!/usr/bin/env bash
# The interactive `owcp-client watch` driven through a real terminal (tmux):
# a request with emphasis, Money and a barcode arrives, is shown rendered
# (barcode drawn with block characters), is accepted with the PIN typed at
# a prompt that does not echo, and the requestor's RD-Status shows Accept.
# A second device registers with --approval and prints the number; watch
# shows the approval, asks that number and accepts it. A request answered
# "n" (not me) is refused as "Not Me" and its requestor is then refused.
# Run under scripts/with-pg.sh (OWCP_TEST_DB).
#
#   test_client_watch.sh OWCP_CLIENT OWCP_DISPATCHER OWCP_ADMIN
set -euo pipefail

client=$1 dispatcher=$2 admin=$3
db=$OWCP_TEST_DB
tmp=$(mktemp -d "${TMPDIR:-/tmp}/owcp-watch.XXXXXX")
session="owcp-watch-$$"
disp_pid=

cleanup() {
  tmux kill-session -t "$session" 2>/dev/null || true
  if [ -n "$disp_pid" ]; then kill "$disp_pid" 2>/dev/null || true; wait "$disp_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  if tmux has-session -t "$session" 2>/dev/null; then
    echo "--- pane ---" >&2
    tmux capture-pane -p -t "$session" >&2 || true
  fi
  exit 1
}

# Waits up to $2 seconds for the pane to contain the fixed string $1.
wait_pane() {
  local want=$1 limit=${2:-20} i
  for ((i = 0; i < limit * 10; i++)); do
    if tmux capture-pane -p -t "$session" | grep -qF -- "$want"; then return 0; fi
    sleep 0.1
  done
  fail "pane never showed '$want' within ${limit}s"
}

# Waits up to $3 seconds until the whole pane history holds the fixed
# string $1 at least $2 times (for prompts that were shown before).
wait_count() {
  local want=$1 n=$2 limit=${3:-20} i
  for ((i = 0; i < limit * 10; i++)); do
    if [ "$(tmux capture-pane -p -S - -t "$session" | grep -cF -- "$want")" -ge "$n" ]; then
      return 0
    fi
    sleep 0.1
  done
  fail "pane never showed '$want' $n times within ${limit}s"
}

umask 077
"$admin" --db "$db" migrate >/dev/null
# The requestor token goes into a header file, never onto a command line.
token=$("$admin" --db "$db" requestor add access@example.com | tail -n 1)
printf 'Authorization: Bearer %s\n' "$token" >"$tmp/auth.hdr"
unset token
"$admin" --db "$db" account add alice@example.com >/dev/null
code=$("$admin" --db "$db" code issue alice@example.com | tail -n 1)

"$dispatcher" --db "$db" --listen 127.0.0.1:0 --domain example.com \
  --insecure-http --key-dir "$tmp/keys" --ready-file "$tmp/ready" \
  2>"$tmp/dispatcher.log" &
disp_pid=$!
for ((i = 0; i < 100; i++)); do
  [ -s "$tmp/ready" ] && break
  sleep 0.1
done
[ -s "$tmp/ready" ] || fail "dispatcher did not start: $(tail -5 "$tmp/dispatcher.log")"
base=$(head -n 1 "$tmp/ready")
case $base in
  */owcp/0.1) ;;
  *) base="$base/owcp/0.1" ;;
esac

state="$tmp/state"
common=(--state-dir "$state" --dispatcher "$base" --insecure-http)

# A PIN file others can read is refused; a private one registers.
printf '2468\n' >"$tmp/pin"
chmod 644 "$tmp/pin"
if "$client" "${common[@]}" register alice@example.com --code "$code" \
  --pin-file "$tmp/pin" 2>"$tmp/err"; then
  fail "register accepted a world-readable PIN file"
fi
grep -q "group and others" "$tmp/err" || fail "unexpected error: $(cat "$tmp/err")"
chmod 600 "$tmp/pin"
"$client" "${common[@]}" register alice@example.com --code "$code" \
  --pin-file "$tmp/pin" >"$tmp/out" || fail "register: $(cat "$tmp/out")"
grep -q "Registered this device for alice@example.com" "$tmp/out" ||
  fail "register printed: $(cat "$tmp/out")"
[ "$(stat -c %a "$state")" = 700 ] || fail "state dir mode $(stat -c %a "$state")"
[ "$(stat -c %a "$state/state.json")" = 600 ] || fail "state file mode"

tmux -u new-session -d -s "$session" -x 160 -y 60 \
  "env LANG=C.UTF-8 '$client' --state-dir '$state' --dispatcher '$base' --insecure-http watch --wait 5; echo WATCH-EXITED \$?; sleep 60"
wait_pane "Watching alice@example.com" 15

# 16x2 barcode: row 0 all black, row 1 the low 8 pixels black.
xml='<Request xmlns=\"http://schema.comodo.com/2011/owcp/0.1\"><Header identifier=\"urn:watch:1\" type=\"Access\"><From>access@example.com</From><To>alice@example.com</To><Verification>PIN</Verification><Summary>Open the <B>server room</B> door?</Summary></Header><Body><P>Deposit <Money currency=\"usd\" amount=\"9825.00\"/></P><Barcode width=\"16\" height=\"2\" data=\"////AA==\"/></Body></Request>'
curl -sS -H @"$tmp/auth.hdr" -H 'Content-Type: application/json' \
  -d "{\"Request\":\"$xml\"}" "$base/RD-Confirm" >"$tmp/confirm.json"
tx=$(sed -n 's/.*"Transaction": *"\([^"]*\)".*/\1/p' "$tmp/confirm.json")
[ -n "$tx" ] || fail "RD-Confirm: $(cat "$tmp/confirm.json")"

wait_pane "Accept, Reject or Not me?" 20
pane=$(tmux capture-pane -p -t "$session")
grep -qF -- "Request $tx" <<<"$pane" || fail "transaction not shown"
grep -qF "Summary: Open the server room door?" <<<"$pane" || fail "summary not rendered"
grep -qF "USD 9,825.00" <<<"$pane" || fail "money not rendered"
grep -qF "████████▀▀▀▀▀▀▀▀" <<<"$pane" || fail "barcode not drawn with block characters"

tmux send-keys -t "$session" a Enter
wait_pane "PIN:" 10
tmux send-keys -t "$session" -l 2468
tmux send-keys -t "$session" Enter
wait_pane "Sent Accept for $tx" 20
if tmux capture-pane -p -t "$session" | grep -q "PIN: *2468"; then
  fail "the PIN was echoed"
fi

curl -sS -H @"$tmp/auth.hdr" -H 'Content-Type: application/json' \
  -d "{\"Transaction\":\"$tx\"}" "$base/RD-Status" >"$tmp/status.json"
grep -q '"Response": *"Accept"' "$tmp/status.json" ||
  fail "RD-Status: $(cat "$tmp/status.json")"

# A second device asks to join by approval: it prints the number to type;
# the approval request does not show it; watch asks for it before the PIN.
"$client" --state-dir "$tmp/state2" --dispatcher "$base" --insecure-http \
  register alice@example.com --approval --pin-file "$tmp/pin" \
  --description "second laptop" --timeout 60 >"$tmp/reg2.out" 2>"$tmp/reg2.err" &
reg_pid=$!
for ((i = 0; i < 100; i++)); do
  grep -q "type this number when asked: [0-9][0-9]$" "$tmp/reg2.err" && break
  sleep 0.1
done
match=$(sed -n 's/.*type this number when asked: \([0-9][0-9]\)$/\1/p' "$tmp/reg2.err")
atx=$(sed -n 's/.*(transaction \([^)]*\)).*/\1/p' "$tmp/reg2.err")
[ -n "$match" ] && [ -n "$atx" ] || fail "register --approval printed: $(cat "$tmp/reg2.err")"
wait_pane "Request $atx" 20
wait_pane "second laptop" 5
tmux send-keys -t "$session" a Enter
wait_pane "Type the number shown on the new device:" 10
tmux send-keys -t "$session" -l "$match"
tmux send-keys -t "$session" Enter
wait_count "PIN:" 2 10
tmux send-keys -t "$session" -l 2468
tmux send-keys -t "$session" Enter
wait_pane "Sent Accept for $atx" 20
wait "$reg_pid" || fail "register --approval: $(cat "$tmp/reg2.err")"
grep -q "Registered this device for alice@example.com" "$tmp/reg2.out" ||
  fail "register --approval printed: $(cat "$tmp/reg2.out")"

# "Not me" from another requestor's request: refused as fraud, and that
# requestor may no longer send to alice (access@ is unaffected below).
shop=$("$admin" --db "$db" requestor add shop@example.com | tail -n 1)
printf 'Authorization: Bearer %s\n' "$shop" >"$tmp/shop.hdr"
unset shop
shop_xml=${xml//access@example.com/shop@example.com}
curl -sS -H @"$tmp/shop.hdr" -H 'Content-Type: application/json' \
  -d "{\"Request\":\"${shop_xml//urn:watch:1/urn:watch:nm}\"}" "$base/RD-Confirm" >"$tmp/nm.json"
ntx=$(sed -n 's/.*"Transaction": *"\([^"]*\)".*/\1/p' "$tmp/nm.json")
[ -n "$ntx" ] || fail "shop RD-Confirm: $(cat "$tmp/nm.json")"
wait_pane "Request $ntx" 20
tmux send-keys -t "$session" n Enter
wait_count "PIN:" 3 10
tmux send-keys -t "$session" -l 2468
tmux send-keys -t "$session" Enter
wait_pane "Sent Refuse (Not Me) for $ntx" 20
code3=$(curl -sS -o "$tmp/nm2.json" -w '%{http_code}' -H @"$tmp/shop.hdr" \
  -H 'Content-Type: application/json' \
  -d "{\"Request\":\"${shop_xml//urn:watch:1/urn:watch:nm2}\"}" "$base/RD-Confirm")
[ "$code3" = 403 ] && grep -q "Not Me" "$tmp/nm2.json" ||
  fail "RD-Confirm after Not Me: HTTP $code3 $(cat "$tmp/nm2.json")"

# Still waiting for more; q at the next prompt ends it.
tmux capture-pane -p -t "$session" | grep -q WATCH-EXITED && fail "watch exited early"
confirm() { # $1: XML (JSON-escaped); prints the transaction
  curl -sS -H @"$tmp/auth.hdr" -H 'Content-Type: application/json' \
    -d "{\"Request\":\"$1\"}" "$base/RD-Confirm" |
    sed -n 's/.*"Transaction": *"\([^"]*\)".*/\1/p'
}
# Keys typed while watch waits (an answer and the PIN, typed ahead) must not
# answer a request that is not on screen yet: they are discarded.
tmux send-keys -t "$session" a Enter
tmux send-keys -t "$session" -l 2468
tmux send-keys -t "$session" Enter
sleep 1
tx2=$(confirm "${xml//urn:watch:1/urn:watch:2}")
[ -n "$tx2" ] || fail "second RD-Confirm"
wait_pane "Request $tx2" 20
sleep 2
tmux capture-pane -p -t "$session" | grep -qF "Sent Accept for $tx2" &&
  fail "typed-ahead keys answered $tx2 before it was shown"
code2=$(curl -sS -o /dev/null -w '%{http_code}' -H @"$tmp/auth.hdr" \
  -H 'Content-Type: application/json' -d "{\"Transaction\":\"$tx2\"}" \
  "$base/RD-Status")
[ "$code2" = 202 ] || fail "$tx2 is no longer pending after typeahead (HTTP $code2)"
tmux send-keys -t "$session" q Enter
wait_pane "WATCH-EXITED 0" 10

# The non-interactive commands on the same state.
"$client" "${common[@]}" list >"$tmp/out" || fail "list"
grep -qF -- "$tx2" "$tmp/out" || fail "list lacks $tx2: $(cat "$tmp/out")"
grep -qF "Open the *server room* door?" "$tmp/out" || fail "list lacks the summary"
"$client" "${common[@]}" show "$tx2" >"$tmp/out" || fail "show"
grep -qF "USD 9,825.00" "$tmp/out" || fail "show: $(cat "$tmp/out")"
printf '0000\n' >"$tmp/badpin"
rc=0
"$client" "${common[@]}" reply "$tx2" reject --pin-file "$tmp/badpin" 2>"$tmp/err" || rc=$?
[ "$rc" = 3 ] || fail "wrong PIN: exit $rc, $(cat "$tmp/err")"
# A PIN file reached through a symbolic link is refused (opened with
# O_NOFOLLOW, then checked on the descriptor); so is an over-long PIN.
ln -s "$tmp/pin" "$tmp/pinlink"
rc=0
"$client" "${common[@]}" reply "$tx2" reject --pin-file "$tmp/pinlink" 2>"$tmp/err" || rc=$?
[ "$rc" = 1 ] || fail "PIN file symlink: exit $rc"
grep -q "symbolic link" "$tmp/err" || fail "PIN file symlink: $(cat "$tmp/err")"
head -c 300 /dev/zero | tr '\0' 7 >"$tmp/longpin"
rc=0
"$client" "${common[@]}" reply "$tx2" reject --pin-file "$tmp/longpin" 2>"$tmp/err" || rc=$?
[ "$rc" = 1 ] || fail "over-long PIN: exit $rc"
grep -q "longer than" "$tmp/err" || fail "over-long PIN: $(cat "$tmp/err")"
"$client" "${common[@]}" reply "$tx2" reject --pin-file "$tmp/pin" >"$tmp/out" ||
  fail "reply reject: $(cat "$tmp/out")"
# reply shows the request it signs, from the same fetch.
grep -qF "Summary: Open the *server room* door?" "$tmp/out" ||
  fail "reply did not show what it signed: $(cat "$tmp/out")"
curl -sS -H @"$tmp/auth.hdr" -H 'Content-Type: application/json' \
  -d "{\"Transaction\":\"$tx2\"}" "$base/RD-Status" | grep -q '"Response": *"Reject"' ||
  fail "RD-Status of $tx2 is not Reject"

# A method this device cannot perform: Refuse whatever the user chose.
xml3=${xml//urn:watch:1/urn:watch:3}
tx3=$(confirm "${xml3//<Verification>PIN/<Verification>Retina}")
[ -n "$tx3" ] || fail "third RD-Confirm"
rc=0
"$client" "${common[@]}" reply "$tx3" accept --pin-file "$tmp/pin" >"$tmp/out" || rc=$?
[ "$rc" = 5 ] || fail "unknown method: exit $rc, $(cat "$tmp/out")"
curl -sS -H @"$tmp/auth.hdr" -H 'Content-Type: application/json' \
  -d "{\"Transaction\":\"$tx3\"}" "$base/RD-Status" >"$tmp/status.json"
grep -q '"Response": *"Refuse"' "$tmp/status.json" || fail "$(cat "$tmp/status.json")"
grep -q 'Unknown Verification Type' "$tmp/status.json" || fail "no Reason"

# Tokens never reach the terminal; deregister removes the account.
tok=$(sed -n 's/.*"Token": *"\([^"]*\)".*/\1/p' "$state/state.json")
[ -n "$tok" ] || fail "no token in the state file"
tmux capture-pane -p -S - -t "$session" >"$tmp/pane"
cat "$tmp/out" "$tmp/err" "$tmp/pane" | grep -qF -- "$tok" && fail "a token was printed"
unset tok
"$client" "${common[@]}" deregister >"$tmp/out" || fail "deregister"
"$client" "${common[@]}" accounts >"$tmp/out"
[ ! -s "$tmp/out" ] || fail "account still listed after deregister"
echo "PASS: watch rendered and accepted $tx with the PIN; list/show/reply/deregister"
