#!/usr/bin/env bash
# bench/run.sh — the dispatcher benchmark in one command (see bench/README.md).
#
# Builds a Release tree (build-bench) when needed, then, inside a throwaway
# durable PostgreSQL cluster (scripts/with-pg.sh --durable: fsync and
# synchronous_commit on):
#   1. pgbench with bench/pgbench-commit.sql at the flows' concurrency:
#      this machine's durable-commit limit (tps);
#   2. owcp-dispatcher (--open, plain HTTP on loopback) and owcp-bench flows;
#   3. owcp-bench idle holding 10,000 CD-List long polls, the dispatcher's
#      RSS while they are held, and owcp-bench flows again beside them;
# and prints one summary block (also written to bench/last-run.txt).
#
# Environment (defaults in brackets):
#   FLOWS [32]            concurrent flows (and pgbench clients)
#   SECONDS_FLOWS [20]    measured seconds of each flows run
#   WARMUP [3]            unmeasured seconds before each flows run
#   PG_SECONDS [20]       pgbench duration
#   IDLE_POLLS [10000]    idle long polls to hold
#   IDLE_CLIENTS [100]    clients the idle polls are spread over
#   THREADS [32]          owcp-dispatcher --threads (= its database connections)
#   PROFILE [0]           1: perf record -g the dispatcher during the first
#                         flows run; report in bench/last-profile.txt
#   BUILD_DIR [build-bench]
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build-bench}

if [ "${1:-}" != "--inside" ]; then
  # The dispatcher's -O2 build trips -Wformat-truncation in outbox.c (a
  # log sentence that may be cut short); that is a warning, not a reason
  # to have no benchmark.
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DOWCP_SANITIZE=OFF -DCMAKE_C_FLAGS="-Wno-error=format-truncation" >/dev/null
  cmake --build "$build" --target owcp-bench owcp-dispatcher owcp-admin \
    -j"${JOBS:-2}" >/dev/null
  exec "$root/scripts/with-pg.sh" --durable "$0" --inside
fi

FLOWS=${FLOWS:-32}
SECONDS_FLOWS=${SECONDS_FLOWS:-20}
WARMUP=${WARMUP:-3}
PG_SECONDS=${PG_SECONDS:-20}
IDLE_POLLS=${IDLE_POLLS:-10000}
IDLE_CLIENTS=${IDLE_CLIENTS:-100}
THREADS=${THREADS:-32}
PROFILE=${PROFILE:-0}

bench=$build/bench/owcp-bench
admin=$build/dispatcher/owcp-admin
dispatcher=$build/dispatcher/owcp-dispatcher
pgbin=$OWCP_PGBIN
pghost=$OWCP_PGHOST
db=$OWCP_TEST_DB

tmp=$(mktemp -d "${TMPDIR:-/tmp}/owcp-bench.XXXXXX")
chmod 700 "$tmp"
dpid="" ipid="" spid=""
cleanup() {
  for p in $spid $ipid $dpid; do
    kill -TERM "$p" 2>/dev/null || true
  done
  for p in $spid $ipid $dpid; do
    wait "$p" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT

say() { printf '%s\n' "$*" >&2; }
die() { say "bench/run.sh: $*"; exit 1; }

# `key value` lines of a summary file; prints the value of key (or "?").
get() { awk -v k="$2" '$1 == k { print $2; found = 1 } END { if (!found) print "?" }' "$1"; }

# Waits (bounded) for a file to hold a line.
await_file() {
  local file=$1 limit=$2 pid=$3 i=0
  while ! grep -q . "$file" 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || die "process $pid exited before writing $file"
    i=$((i + 1))
    [ $i -le $((limit * 10)) ] || die "$file not written within $limit s"
    sleep 0.1
  done
}

psql_db() { "$pgbin/psql" -h "$pghost" -U postgres -X -q -At -v ON_ERROR_STOP=1 "$@"; }

# ---- 1. the durable-commit limit --------------------------------------------
say "== pgbench: ${PG_SECONDS}s, $FLOWS clients, one ~1 KB INSERT + one UPDATE per commit"
"$pgbin/createdb" -h "$pghost" -U postgres pgbench
psql_db -d pgbench -c "
  CREATE TABLE bench_rows (id bigserial PRIMARY KEY, payload text NOT NULL);
  CREATE TABLE bench_counters (id integer PRIMARY KEY, n bigint NOT NULL);
  INSERT INTO bench_counters SELECT g, 0 FROM generate_series(1, 1000) g;"
"$pgbin/pgbench" -h "$pghost" -U postgres -n -f "$root/bench/pgbench-commit.sql" \
  -c "$FLOWS" -j 2 -T "$PG_SECONDS" pgbench >"$tmp/pgbench.out" 2>&1 ||
  { cat "$tmp/pgbench.out" >&2; die "pgbench failed"; }
tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$tmp/pgbench.out")
[ -n "$tps" ] || { cat "$tmp/pgbench.out" >&2; die "no tps in the pgbench output"; }
say "pgbench durable tps: $tps"

# ---- 2. the dispatcher ---------------------------------------------------------
"$admin" --db "$db" migrate >/dev/null
"$admin" --db "$db" requestor add bench@example.com --rate 1000000 | tail -n 1 >"$tmp/token"
chmod 600 "$tmp/token"
grep -q . "$tmp/token" || die "owcp-admin printed no requestor token"

# One connection per idle poll; the hard limit is as far as we may go.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
"$dispatcher" --db "$db" --listen 127.0.0.1:0 --domain example.com \
  --insecure-http --open --key-dir "$tmp/keys" --max-connections 16000 \
  --threads "$THREADS" --ready-file "$tmp/ready" 2>"$tmp/dispatcher.log" &
dpid=$!
await_file "$tmp/ready" 30 "$dpid"
base=$(head -n 1 "$tmp/ready")
say "dispatcher pid $dpid at $base (fd limit $(ulimit -n))"

xid() { psql_db -d owcp -c "SELECT txid_current()"; }
lsn() { psql_db -d owcp -c "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn"; }

run_flows() { # $1: account prefix, $2: summary file
  "$bench" flows --base "$base" --token-file "$tmp/token" --prefix "$1" \
    --flows "$FLOWS" --seconds "$SECONDS_FLOWS" --warmup "$WARMUP" \
    --summary "$2" >&2
}

say "== owcp-bench flows: $FLOWS flows, ${SECONDS_FLOWS}s after ${WARMUP}s warm-up"
if [ "$PROFILE" = 1 ]; then
  (sleep "$WARMUP"; perf record -F 499 -g -p "$dpid" -o "$tmp/perf.data" \
    -- sleep "$SECONDS_FLOWS" >/dev/null 2>&1) &
  spid=$!
fi
xid0=$(xid) lsn0=$(lsn)
flows_rc=0
run_flows bench "$tmp/flows1.sum" || flows_rc=$?
xid1=$(xid) lsn1=$(lsn)
if [ -n "$spid" ]; then
  wait "$spid" || true
  spid=""
  perf report -i "$tmp/perf.data" --stdio --no-children --percent-limit 0.5 \
    2>/dev/null | head -n 400 >"$root/bench/last-profile.txt" || true
  say "profile: bench/last-profile.txt"
fi
[ -s "$tmp/flows1.sum" ] || die "owcp-bench flows produced no figures"

# ---- 3. idle long polls, and flows beside them -----------------------------------
say "== owcp-bench idle: $IDLE_POLLS long polls over $IDLE_CLIENTS clients"
"$bench" idle --base "$base" --prefix idle --polls "$IDLE_POLLS" \
  --idle-clients "$IDLE_CLIENTS" --ready-file "$tmp/idle.ready" \
  --status-file "$tmp/idle.status" --summary "$tmp/idle.sum" >"$tmp/idle.out" 2>&1 &
ipid=$!
await_file "$tmp/idle.ready" 300 "$ipid"
sleep 2 # let the last answers settle before sampling memory
rss_held=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$dpid/status")
fds_held=$(find "/proc/$dpid/fd" -mindepth 1 -maxdepth 1 | wc -l)
held_ready=$(get "$tmp/idle.status" held)
say "idle polls held: $held_ready; dispatcher VmRSS $((rss_held / 1024)) MiB, $fds_held fds"

say "== owcp-bench flows beside the idle polls"
flows2_rc=0
run_flows bench2 "$tmp/flows2.sum" || flows2_rc=$?
rss_after=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$dpid/status")
hwm=$(awk '$1 == "VmHWM:" { print $2 }' "/proc/$dpid/status")
held_after=$(get "$tmp/idle.status" held)
held_min=$(get "$tmp/idle.status" held_min)
kill -TERM "$ipid"
idle_rc=0
wait "$ipid" || idle_rc=$?
ipid=""
cat "$tmp/idle.out" >&2
kill -TERM "$dpid"
wait "$dpid" || true
dpid=""

# ---- summary ----------------------------------------------------------------------
f1=$tmp/flows1.sum f2=$tmp/flows2.sum
fps=$(get "$f1" flows_per_s)
flows1=$(get "$f1" flows)
ratio=$(awk -v f="$fps" -v t="$tps" 'BEGIN { printf "%.2f", f / (t / 2) }')
verdict() { awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN {
  ok = (op == ">=") ? (v + 0 >= t + 0) : (v + 0 <= t + 0); print ok ? "met" : "NOT met" }'; }
pct() { get "$1" "${2}_p50_ms" | tr '\n' '/'; get "$1" "${2}_p99_ms"; }
xact_per_flow=$(awk -v d=$((xid1 - xid0)) -v f="$flows1" 'BEGIN { if (f > 0) printf "%.2f", d / f; else print "?" }')
wal_per_flow=$(awk -v d=$((lsn1 - lsn0)) -v f="$flows1" 'BEGIN { if (f > 0) printf "%.0f", d / f; else print "?" }')
rss_mib=$((rss_held / 1024))
hwm_mib=$((hwm / 1024))
fps2=$(get "$f2" flows_per_s)

{
  echo "owcp dispatcher benchmark — $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs, $(uname -r)"
  echo "  (durable PostgreSQL 15: fsync on, synchronous_commit on; $FLOWS concurrent flows)"
  echo
  printf '  %-44s %s\n' "pgbench durable tps (1 KB INSERT + UPDATE)" "$tps"
  printf '  %-44s %s\n' "half of it (a flow needs two commits)" "$(awk -v t="$tps" 'BEGIN { printf "%.1f", t / 2 }')"
  printf '  %-44s %s\n' "flows/s" "$fps  ($flows1 flows in ${SECONDS_FLOWS}s, errors $(get "$f1" errors))"
  printf '  %-44s %s\n' "ratio flows/s ÷ (tps/2) [target >= 0.8]" "$ratio  $(verdict "$ratio" 0.8 '>=')"
  printf '  %-44s %s\n' "write transactions per flow (txid delta)" "$xact_per_flow"
  printf '  %-44s %s\n' "WAL bytes per flow" "$wal_per_flow"
  echo "  latency p50/p99 in ms:"
  printf '    %-42s %s\n' "RD-Confirm" "$(pct "$f1" confirm)"
  printf '    %-42s %s\n' "CD-List wake (RD-Confirm sent -> answer)" "$(pct "$f1" list_wake)"
  printf '    %-42s %s\n' "CD-Reply" "$(pct "$f1" reply)"
  printf '    %-42s %s\n' "RD-Status" "$(pct "$f1" status)"
  printf '    %-42s %s\n' "receipt signing (client CPU)" "$(pct "$f1" sign)"
  printf '    %-42s %s\n' "whole flow" "$(pct "$f1" flow)"
  printf '  %-44s %s\n' "wake-up 202 -> CD-List answer p50/p99 ms" "$(pct "$f1" wakeup)  (clamped to 0: $(get "$f1" wakeup_clamped))"
  printf '  %-44s %s\n' "  [target p99 <= 20 ms]" "$(verdict "$(get "$f1" wakeup_p99_ms)" 20 '<=')"
  printf '  %-44s %s\n' "idle long polls held" "$held_ready of $IDLE_POLLS (during flows: now $held_after, min $held_min)"
  printf '  %-44s %s\n' "dispatcher VmRSS with them held" "$rss_mib MiB ($fds_held fds); after flows $((rss_after / 1024)) MiB; VmHWM $hwm_mib MiB"
  printf '  %-44s %s\n' "  [target <= 512 MiB]" "$(verdict "$hwm_mib" 512 '<=') (judged on VmHWM)"
  printf '  %-44s %s\n' "flows/s while idle polls are held" "$fps2  (errors $(get "$f2" errors); $(awk -v a="$fps2" -v b="$fps" 'BEGIN { if (b > 0) printf "%.0f%%", 100 * a / b; else print "?" }') of the first run)"
  printf '  %-44s %s\n' "wake-up p50/p99 ms while idle polls held" "$(pct "$f2" wakeup)"
  printf '  %-44s %s\n' "exit codes flows/idle/flows" "$flows_rc/$idle_rc/$flows2_rc"
} | tee "$root/bench/last-run.txt"

[ "$flows_rc" = 0 ] && [ "$flows2_rc" = 0 ] && [ "$idle_rc" = 0 ]
