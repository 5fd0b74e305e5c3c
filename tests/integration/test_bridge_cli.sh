#!/usr/bin/env bash
# test_bridge_cli.sh BRIDGE VERSION — owcp-bridge's command line (contract
# §1) under scripts/with-pg.sh (OWCP_TEST_DB; FAILS without it): --version
# and --help; `check` passes a good file and names file:line and key of a
# bad one (bad value, cross-key rule, RA key not matching, secret readable
# by others) with status 4 or 1; `migrate` creates the tables (twice is
# fine); `serve` answers GET /healthz 200 and GET /metrics with the
# bridge's series, answers an OTPCE POST without the version header with
# 400 and X-OTPCEP-version, survives SIGHUP, and exits 0 on SIGTERM.
set -u
bridge=$1 version=$2
: "${OWCP_TEST_DB:?OWCP_TEST_DB is not set: run under scripts/with-pg.sh}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/owcp-bridge-cli.XXXXXX")
pid=''
fails=0
cleanup() {
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

expect() {
  local name=$1 want=$2 pat=$3 out rc
  shift 4
  out=$("$@" 2>&1)
  rc=$?
  if [ "$rc" -ne "$want" ] || ! grep -Eq -- "$pat" <<<"$out"; then
    echo "FAIL $name: rc=$rc (want $want), output:"; echo "$out"
    fails=$((fails + 1))
  else
    echo "ok   $name"
  fi
}
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fails=$((fails + 1)); fi; }
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    [ "$SECONDS" -ge "$deadline" ] && return 1
    sleep 0.1
  done
}

v=${version//./\\.}
expect version 0 "^owcp-bridge $v\$" -- "$bridge" --version
expect help 0 'owcp-bridge \[--config FILE\] migrate' -- "$bridge" --help
expect unknown-command 4 "unknown command 'frobnicate'" -- "$bridge" --config /dev/null frobnicate
expect missing-file 4 'cannot read /nonexistent/bridge.conf' -- "$bridge" --config /nonexistent/bridge.conf check

etc=$tmp/etc
mkdir -p "$etc"
(
  cd "$etc" || exit 1
  umask 077
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ra.key -out ra.pem -days 2 \
    -subj /CN=Demo-RA >/dev/null 2>&1
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out other.key >/dev/null 2>&1
  printf 'testing123\n' >radius.secret
  printf 'not-a-real-token\n' >bridge.token
) || { echo "FAIL cannot make the test keys"; exit 1; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
conf=$etc/bridge.conf
write_conf() { # write_conf RA_KEY
  cat >"$conf" <<CONF
[bridge]
listen = 127.0.0.1:$port
insecure_http = yes
db = $OWCP_TEST_DB
log_level = info
[owcp]
requestor = enroll@example.com
token_file = bridge.token
dispatcher = http://127.0.0.1:9/owcp/0.1
insecure_http = yes
timeout = 60
[identity]
map = EXAMPLE\\* -> *@example.com
upn_suffix = EXAMPLE = example.com
[otpce]
path = /otpce
template = 1.3.6.1.4.1.311.21.8.1.1
ra_cert = ra.pem
ra_key = $1
issuing_ca = ca1.example.com\\Example Issuing CA
confirm = cached:30
[radius]
server = 127.0.0.1:9
secret_file = radius.secret
timeout_ms = 200
retries = 0
CONF
}

write_conf ra.key
expect check-good 0 'configuration OK' -- "$bridge" --config "$conf" check
write_conf other.key
expect check-key-mismatch 1 "bridge.conf:19: \\[otpce\\] ra_key: does not belong to ra_cert" -- "$bridge" --config "$conf" check
chmod 0644 "$etc/radius.secret"
write_conf ra.key
expect check-secret-mode 4 "bridge.conf:24: \\[radius\\] secret_file: secret file .* has mode 0644" -- "$bridge" --config "$conf" check
chmod 0600 "$etc/radius.secret"
sed -i 's/^timeout = 60/timeout = soon/' "$conf"
expect check-bad-value 4 "bridge.conf:11: \\[owcp\\] timeout: must be an integer" -- "$bridge" --config "$conf" check
write_conf ra.key
sed -i 's/^insecure_http = yes/insecure_http = no/' "$conf"
expect check-cross-key 4 "bridge.conf:3: \\[bridge\\] insecure_http: give tls_cert and tls_key" -- "$bridge" --config "$conf" check
write_conf ra.key
sed -i '/^\[radius\]/,$d' "$conf"
expect check-radius-needed 4 'bridge.conf: \[radius\]: required \(and enabled\) by \[otpce\]' -- "$bridge" --config "$conf" check

write_conf ra.key
expect migrate 0 'migrations applied: [1-9]' -- "$bridge" --config "$conf" migrate
expect migrate-again 0 'migrations applied: 0' -- "$bridge" --config "$conf" migrate

"$bridge" --config "$conf" >"$tmp/log" 2>&1 &
pid=$!
base=http://127.0.0.1:$port
healthy() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/healthz")" = 200 ]; }
if wait_for 20 healthy; then echo "ok   serve: /healthz 200"; else echo "FAIL serve: /healthz"; cat "$tmp/log"; fails=$((fails + 1)); fi
metrics=$(curl -s "$base/metrics")
check "metrics: bridge series" "grep -q '^owcp_bridge_confirmations_pending 0' <<<\"\$metrics\" && grep -q 'owcp_bridge_requests_total' <<<\"\$metrics\""
hdrs=$(curl -s -D - -o "$tmp/body" -X POST -H 'Content-Type: application/xml' --data '<x/>' "$base/otpce")
check "otpce: 400 without the version header" "grep -q '^HTTP/1.1 400' <<<\"\$hdrs\" && grep -qi '^X-OTPCEP-version: 1.0' <<<\"\$hdrs\" && grep -q 'statusCode=\"OtherError\"' '$tmp/body'"
metrics=$(curl -s "$base/metrics")
check "metrics: the 400 counted" "grep -q 'owcp_bridge_requests_total{front=\"otpce\",outcome=\"BadRequest\"} 1' <<<\"\$metrics\""
check "log: JSON lines" "head -1 '$tmp/log' | python3 -c 'import json,sys; json.loads(sys.stdin.readline())'"
kill -HUP "$pid"
sleep 0.5
if healthy && kill -0 "$pid"; then echo "ok   SIGHUP: still serving"; else echo "FAIL SIGHUP"; fails=$((fails + 1)); fi
kill -TERM "$pid"
wait "$pid"
rc=$?
pid=''
check "SIGTERM: exit 0 (got $rc)" "[ $rc -eq 0 ]"
check "log: stopped" "grep -q '\"stopped\"' '$tmp/log'"

[ "$fails" -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "all passed"
