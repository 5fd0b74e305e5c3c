#!/usr/bin/env bash
# installed_run.sh PREFIX — run by test_install.sh under scripts/with-pg.sh
# (OWCP_TEST_DB): the INSTALLED owcp-admin migrates the throwaway cluster
# with the INSTALLED migrations (PREFIX/share/owcp/sql/dispatcher, found by
# default), and the INSTALLED owcp-dispatcher, configured by a file alone
# made from the installed example configuration, passes `check`, serves
# /healthz and /metrics, and exits 0 on SIGTERM.
set -u
prefix=$1
: "${OWCP_TEST_DB:?OWCP_TEST_DB is not set: run under scripts/with-pg.sh}"
# shellcheck source=conf_edit.sh
. "$(dirname "$0")/conf_edit.sh"
fails=0
fail() { echo "FAIL $*"; fails=$((fails + 1)); }
ok() { echo "ok   $*"; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/owcp-installed.XXXXXX")
pid=''
cleanup() {
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

admin=$prefix/sbin/owcp-admin disp=$prefix/sbin/owcp-dispatcher
conf=$tmp/dispatcher.conf
cp "$prefix/share/doc/owcp/dispatcher.conf.example" "$conf"
conf_set "$conf" db "$OWCP_TEST_DB" && conf_set "$conf" listen 127.0.0.1:0 &&
  conf_set "$conf" insecure_http yes && conf_set "$conf" key_dir keys &&
  conf_set "$conf" ready_file ready || fail "editing the installed example"
conf_del "$conf" tls_cert
conf_del "$conf" tls_key

migrations=$(find "$prefix/share/owcp/sql/dispatcher" -maxdepth 1 -name '[0-9][0-9][0-9]_*.sql' | wc -l)
[ "$migrations" -gt 0 ] || fail "no migrations installed"
out=$(cd / && "$admin" --config "$conf" migrate 2>&1)
if grep -qx "migrations applied: $migrations" <<<"$out"; then ok "installed owcp-admin migrates with the installed migrations"; else fail "migrate: $out"; fi
out=$("$admin" --config "$conf" account add alice@example.com 2>&1) &&
  ok "installed owcp-admin adds an account" || fail "account add: $out"

out=$("$disp" --config "$conf" check 2>&1)
if [ $? -eq 0 ] && grep -q 'configuration OK' <<<"$out"; then ok "installed owcp-dispatcher check"; else fail "check: $out"; fi

(cd / && exec "$disp" --config "$conf" 2>"$tmp/dispatcher.log") &
pid=$!
for _ in $(seq 300); do [ -s "$tmp/ready" ] && break; sleep 0.1; done
if [ -s "$tmp/ready" ]; then
  root=$(head -n1 "$tmp/ready")
  root=${root%/owcp/0.1}
  out=$(curl -sS --fail "$root/healthz" 2>&1)
  if grep -q '"Database":"ok"' <<<"$out"; then ok "installed dispatcher serves /healthz"; else fail "/healthz: $out"; fi
  # Requests are counted as they complete, just after the reply: retry.
  for _ in $(seq 30); do
    out=$(curl -sS --fail "$root/metrics" 2>&1)
    grep -q '^owcp_http_requests_total{route="/healthz",status="200"} 1' <<<"$out" && break
    sleep 0.1
  done
  if grep -q '^owcp_process_start_time_seconds ' <<<"$out" &&
     grep -q '^owcp_http_requests_total{route="/healthz",status="200"} 1' <<<"$out"; then
    ok "installed dispatcher serves /metrics"
  else
    fail "/metrics: $out"
  fi
else
  fail "the installed dispatcher did not start:"; cat "$tmp/dispatcher.log"
fi
kill "$pid"; wait "$pid"; rc=$?; pid=''
[ "$rc" -eq 0 ] && ok "installed dispatcher exits 0 on SIGTERM" || fail "exit status $rc after SIGTERM"

[ "$fails" -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
