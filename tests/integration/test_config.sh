#!/usr/bin/env bash
# test_config.sh DISPATCHER ADMIN REQUEST CLIENT VERSION — configuration
# files end to end, under scripts/with-pg.sh (OWCP_TEST_DB; FAILS without
# it): owcp-admin --config migrates and adds an account; owcp-dispatcher
# started from a file alone serves GET /healthz against that database with
# paths resolved against the file's directory; a flag overrides the file;
# `owcp-dispatcher check` passes a good file and names file:line:key of a
# bad one; --version of the four programs prints the project version.
set -u
disp=$1 admin=$2 request=$3 client=$4 version=$5
: "${OWCP_TEST_DB:?OWCP_TEST_DB is not set: run under scripts/with-pg.sh}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/owcp-config.XXXXXX")
disp_pid=''
fails=0

cleanup() {
  [ -n "$disp_pid" ] && kill -9 "$disp_pid" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

# expect NAME WANT_RC PATTERN -- COMMAND...: runs it, checks exit status and
# that stdout+stderr match the extended regex PATTERN.
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

# wait_for SECONDS COMMAND...: polls COMMAND every 0.1 s until it succeeds.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    [ "$SECONDS" -ge "$deadline" ] && return 1
    sleep 0.1
  done
}

v=${version//./\\.}
expect version-dispatcher 0 "^owcp-dispatcher $v\$" -- "$disp" --version
expect version-admin 0 "^owcp-admin $v\$" -- "$admin" --version
expect version-request 0 "^owcp-request $v\$" -- "$request" --version
expect version-client 0 "^owcp-client $v\$" -- "$client" --version

mkdir -p "$tmp/etc"
conf=$tmp/etc/dispatcher.conf
cat >"$conf" <<CONF
# a dispatcher configured by file alone
[dispatcher]
db = $OWCP_TEST_DB        # libpq conninfo (it holds '=')
listen = 127.0.0.1:0      ; any free port
domain = example.com
domain = example.org
insecure_http = yes
key_dir = keys            # relative: next to this file
ready_file = ready
log_level = debug
CONF

# owcp-admin takes [dispatcher] db from the file.
migrations=$(ls "$(dirname "$0")"/../../sql/dispatcher/[0-9][0-9][0-9]_*.sql | wc -l)
expect admin-config-migrate 0 "migrations applied: $migrations" -- "$admin" --config "$conf" migrate
expect admin-config-account 0 'account alice@example.com added' -- "$admin" --config "$conf" account add alice@example.com
expect admin-config-list 0 $'alice@example.com\tactive' -- "$admin" --config "$conf" account list
expect admin-db-overrides 3 'database unavailable' -- "$admin" --config "$conf" --db host=/nonexistent account list
printf '[dispatcher]\ndb = %s\nthreads = many\n' "$OWCP_TEST_DB" >"$tmp/etc/admin-bad.conf"
expect admin-config-validated 2 'admin-bad.conf:3: \[dispatcher\] threads: must be an integer' -- "$admin" --config "$tmp/etc/admin-bad.conf" account list

# check: a good file, a bad key (its line named), a secret file with the wrong mode.
expect check-good 0 'configuration OK' -- "$disp" check --config "$conf"
{ echo '[dispatcher]'; echo "db = x"; echo 'listne = 127.0.0.1:0'; } >"$tmp/etc/bad.conf"
expect check-bad-key 4 'bad.conf:3: \[dispatcher\] listne: unknown key' -- "$disp" check --config "$tmp/etc/bad.conf"
{ echo '[dispatcher]'; echo "max_wait = 99999"; } >"$tmp/etc/range.conf"
expect check-bad-value 4 'range.conf:2: \[dispatcher\] max_wait: must be an integer between 0 and 3600' -- "$disp" check --config "$tmp/etc/range.conf"
grep -v insecure_http "$conf" >"$tmp/etc/tls.conf"
printf 'tls_cert = tls.pem\ntls_key = tls.key\n' >>"$tmp/etc/tls.conf"
echo 'not a key' >"$tmp/etc/tls.key"; chmod 644 "$tmp/etc/tls.key"; touch "$tmp/etc/tls.pem"
expect check-key-mode 4 'tls.conf:11: \[dispatcher\] tls_key: secret file .*tls.key has mode 0644' -- "$disp" check --config "$tmp/etc/tls.conf"
chmod 600 "$tmp/etc/tls.key"; chmod 000 "$tmp/etc/tls.pem"
if [ "$(id -u)" -ne 0 ]; then
  expect check-unreadable 1 'tls_cert: cannot read' -- "$disp" check --config "$tmp/etc/tls.conf"
fi
expect check-flags 4 'insecure_http: allowed only on a loopback' -- \
  "$disp" check --db x --listen 192.0.2.1:80 --domain example.com --key-dir "$tmp/k" --insecure-http

# The dispatcher from the file alone, started elsewhere: relative paths
# are the file's, the database is the file's.
(cd / && exec "$disp" --config "$conf" 2>>"$tmp/dispatcher.log") &
disp_pid=$!
if wait_for 30 test -s "$tmp/etc/ready"; then
  base=$(head -n1 "$tmp/etc/ready")
  root=${base%/owcp/0.1}
  expect config-serves-healthz 0 '"Database":"ok"' -- curl -sS --fail "$root/healthz"
  check config-key-dir-relative '[ -d "$tmp/etc/keys" ]'
else
  echo "FAIL config-start: dispatcher did not start"; cat "$tmp/dispatcher.log"; fails=$((fails + 1))
fi
kill "$disp_pid"; wait "$disp_pid"; rc=$?; disp_pid=''
check config-clean-exit '[ "$rc" -eq 0 ]'

# A flag overrides the file: --ready-file elsewhere, the file's not written.
rm -f "$tmp/etc/ready"
"$disp" --config "$conf" --ready-file "$tmp/ready2" 2>>"$tmp/dispatcher.log" &
disp_pid=$!
if wait_for 30 test -s "$tmp/ready2"; then
  echo "ok   flag-overrides-file"
  check flag-file-value-unused '[ ! -e "$tmp/etc/ready" ]'
else
  echo "FAIL flag-overrides-file"; cat "$tmp/dispatcher.log"; fails=$((fails + 1))
fi
kill "$disp_pid"; wait "$disp_pid"; disp_pid=''

[ "$fails" -eq 0 ] && echo "all passed" || echo "$fails failed"
[ "$fails" -eq 0 ]
