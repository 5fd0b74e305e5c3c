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
#   PROFILE [0]           1: perf record -a -g (whole machine) during the
#                         first flows run; CPU by process, then the hottest
#                         PostgreSQL and dispatcher symbols, in
#                         bench/last-profile.txt
#   DIAG [1]              1: also run the diagnostics that say what limits
#                         the flows: flows with one requestor per flow (no
#                         shared rate-window row), and pgbench variants
#                         with a NOTIFY / a single hot row per commit
#   DIAG_SECONDS [10]     duration of each diagnostic pgbench run
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
DIAG=${DIAG:-1}
DIAG_SECONDS=${DIAG_SECONDS:-10}

bench=$build/bench/owcp-bench
admin=$build/dispatcher/owcp-admin
dispatcher=$build/dispatcher/owcp-dispatcher
pgbin=$OWCP_PGBIN
pghost=$OWCP_PGHOST
db=$OWCP_TEST_DB

tmp=$(mktemp -d "${TMPDIR:-/tmp}/owcp-bench.XXXXXX")
chmod 700 "$tmp"
dpid="" ipid="" spid="" spid_wait=""
cleanup() {
  for p in $spid_wait $spid $ipid $dpid; do
    kill -TERM "$p" 2>/dev/null || true
  done
  for p in $spid_wait $spid $ipid $dpid; do
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
pgbench_tps() { sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$1"; }
tps=$(pgbench_tps "$tmp/pgbench.out")
[ -n "$tps" ] || { cat "$tmp/pgbench.out" >&2; die "no tps in the pgbench output"; }
say "pgbench durable tps: $tps"

# Diagnostics: the same commit plus what the dispatcher's procedures add
# to theirs — a NOTIFY (PostgreSQL serialises notifying commits on one
# lock held through the WAL flush), or an update of one row every commit
# shares (as RD-Confirm's per-requestor rate window does).
tps_notify="-" tps_hot="-"
if [ "$DIAG" = 1 ]; then
  sed 's/^END;$/SELECT pg_notify('"'"'bench'"'"', '"'"'k'"'"' || :id);\nEND;/' \
    "$root/bench/pgbench-commit.sql" >"$tmp/notify.sql"
  sed 's/^END;$/UPDATE bench_counters SET n = n + 1 WHERE id = 0;\nEND;/' \
    "$root/bench/pgbench-commit.sql" >"$tmp/hot.sql"
  psql_db -d pgbench -c "INSERT INTO bench_counters VALUES (0, 0)"
  for v in notify hot; do
    "$pgbin/pgbench" -h "$pghost" -U postgres -n -f "$tmp/$v.sql" -c "$FLOWS" \
      -j 2 -T "$DIAG_SECONDS" pgbench >"$tmp/pgbench-$v.out" 2>&1 ||
      { cat "$tmp/pgbench-$v.out" >&2; die "pgbench ($v) failed"; }
  done
  tps_notify=$(pgbench_tps "$tmp/pgbench-notify.out")
  tps_hot=$(pgbench_tps "$tmp/pgbench-hot.out")
  say "pgbench with NOTIFY: $tps_notify tps; with one hot row: $tps_hot tps"
fi

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

# CPU accounting, to tell "the database is the limit" from "the CPUs are":
# prints machine busy ticks, machine total ticks, dispatcher ticks and
# PostgreSQL ticks (postmaster and its children).
pm=$(head -n 1 "$OWCP_PGDATA/postmaster.pid")
proc_ticks() { awk '{ s += $14 + $15 } END { print s + 0 }' "$@" 2>/dev/null || echo 0; }
cpu_snapshot() {
  local pgs
  pgs=$(for p in $pm $(ps -o pid= --ppid "$pm"); do echo "/proc/$p/stat"; done)
  awk '$1 == "cpu" { busy = $2 + $3 + $4 + $7 + $8 + $9; print busy, busy + $5 + $6 }' /proc/stat |
    tr '\n' ' '
  echo "$(proc_ticks "/proc/$dpid/stat") $(proc_ticks $pgs)"
}
# "busy% dispatcher-cpus postgres-cpus" over an interval of wall seconds.
cpu_delta() { # $1 before, $2 after, $3 wall seconds
  awk -v a="$1" -v b="$2" -v w="$3" -v hz="$(getconf CLK_TCK)" 'BEGIN {
    split(a, x, " "); split(b, y, " ");
    printf "%.0f%% %.2f %.2f", 100 * (y[1] - x[1]) / (y[2] - x[2]),
      (y[3] - x[3]) / hz / w, (y[4] - x[4]) / hz / w }'
}

# What the database sessions wait on while flows run: pg_stat_activity
# sampled every 0.2 s by one psql session; "CPU" = active, not waiting;
# "@owcp_confirm" names the stored procedure the session is running.
start_wait_sampler() { # $1: output file
  printf '%s\n' "SELECT coalesce(wait_event_type, 'CPU') || '/' || coalesce(wait_event, 'running') || '@' || coalesce(substring(query FROM 'owcp_[a-z_]+'), left(query, 20)) FROM pg_stat_activity WHERE datname = 'owcp' AND state = 'active' AND pid <> pg_backend_pid();" \
    '\watch 0.2' | psql_db -d owcp >"$1" 2>/dev/null &
  spid_wait=$!
}
stop_wait_sampler() {
  kill -TERM "$spid_wait" 2>/dev/null || true
  wait "$spid_wait" 2>/dev/null || true
  spid_wait=""
}
# The top wait events of a sample file as "event share%, ...".
top_waits() {
  grep '/' "$1" | tr ' ' '_' | sort | uniq -c | sort -rn | awk '
    { n[NR] = $1; e[NR] = $2; t += $1 }
    END { for (i = 1; i <= NR && i <= 8; i++) printf "%s%s %.0f%%", (i > 1 ? ", " : ""), e[i], 100 * n[i] / t;
          if (t == 0) printf "none sampled" }'
}

run_flows() { # $1: account prefix, $2: summary file, $3: waits file
  local before after
  before=$(cpu_snapshot)
  start_wait_sampler "$3"
  "$bench" flows --base "$base" --token-file "$tmp/token" --prefix "$1" \
    --flows "$FLOWS" --seconds "$SECONDS_FLOWS" --warmup "$WARMUP" \
    --summary "$2" >&2 || { local rc=$?; stop_wait_sampler; return $rc; }
  stop_wait_sampler
  after=$(cpu_snapshot)
  # Includes the warm-up and enrolment: an approximation of the window.
  echo "cpu $(cpu_delta "$before" "$after" "$(awk -v a="$SECONDS_FLOWS" -v b="$WARMUP" 'BEGIN { print a + b }')")" >>"$2"
}

say "== owcp-bench flows: $FLOWS flows, ${SECONDS_FLOWS}s after ${WARMUP}s warm-up"
if [ "$PROFILE" = 1 ]; then
  # Whole machine without call graphs (who uses the CPUs), and the
  # dispatcher with DWARF call graphs (its build keeps no frame pointers)
  # for half the window (DWARF samples are large).
  (sleep "$WARMUP"
   perf record -F 499 -a -o "$tmp/perf.data" -- sleep "$SECONDS_FLOWS" >/dev/null 2>&1 &
   perf record -F 499 --call-graph dwarf,16384 -p "$dpid" -o "$tmp/perf-d.data" \
     -- sleep "$(awk -v s="$SECONDS_FLOWS" 'BEGIN { print s / 2 }')" >/dev/null 2>&1
   wait) &
  spid=$!
fi
xid0=$(xid) lsn0=$(lsn)
flows_rc=0
run_flows bench "$tmp/flows1.sum" "$tmp/waits1" || flows_rc=$?
xid1=$(xid) lsn1=$(lsn)
if [ -n "$spid" ]; then
  wait "$spid" || true
  spid=""
  {
    echo "# perf record -a -F 499 during the first flows run; dispatcher pid $dpid"
    echo "# ---- CPU by process and object (share of all samples, both CPUs)"
    perf report -i "$tmp/perf.data" --stdio --no-children -g none \
      --sort comm,dso --percent-limit 0.5 2>/dev/null | grep -v '^$'
    echo "# ---- PostgreSQL: hottest symbols"
    perf report -i "$tmp/perf.data" --stdio --no-children -g none \
      --comm postgres --sort dso,sym --percent-limit 0.2 2>/dev/null |
      grep -v '^$' | head -n 80
    echo "# ---- owcp-dispatcher (DWARF call graphs): by object, then inclusive time"
    perf report -i "$tmp/perf-d.data" --stdio --no-children -g none \
      --sort dso --percent-limit 1 2>/dev/null | grep -v '^$'
    perf report -i "$tmp/perf-d.data" --stdio --children -g none \
      --sort sym --percent-limit 2 2>/dev/null | grep -v '^$' | head -n 120
  } >"$root/bench/last-profile.txt" || true
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
run_flows bench2 "$tmp/flows2.sum" "$tmp/waits2" || flows2_rc=$?
rss_after=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$dpid/status")
hwm=$(awk '$1 == "VmHWM:" { print $2 }' "/proc/$dpid/status")
held_after=$(get "$tmp/idle.status" held)
held_min=$(get "$tmp/idle.status" held_min)
kill -TERM "$ipid"
idle_rc=0
wait "$ipid" || idle_rc=$?
ipid=""
cat "$tmp/idle.out" >&2

# Diagnostic: the same flows with one requestor per flow, so that no two
# RD-Confirms share a rate-window row.
flows3_rc=0
if [ "$DIAG" = 1 ]; then
  say "== diagnostic: owcp-bench flows with one requestor per flow"
  : >"$tmp/tokens"
  for i in $(seq 0 $((FLOWS - 1))); do
    printf 'bench-r%d@example.com %s\n' "$i" "$("$admin" --db "$db" requestor add \
      "bench-r$i@example.com" --rate 1000000 | tail -n 1)" >>"$tmp/tokens"
  done
  "$bench" flows --base "$base" --token-file "$tmp/tokens" --prefix bench3 \
    --flows "$FLOWS" --seconds "$SECONDS_FLOWS" --warmup "$WARMUP" \
    --summary "$tmp/flows3.sum" >&2 || flows3_rc=$?
fi

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
  printf '  %-44s %s\n' "CPU during flows: machine busy, CPUs used" "$(awk '$1 == "cpu" { printf "%s; dispatcher %s, PostgreSQL %s", $2, $3, $4 }' "$f1"), owcp-bench $(get "$f1" cpu_per_s)"
  printf '  %-44s %s\n' "database sessions during flows (sampled)" "$(top_waits "$tmp/waits1")"
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
  if [ "$DIAG" = 1 ]; then
    f3=$tmp/flows3.sum
    echo "  diagnostics (what limits flows/s):"
    printf '    %-42s %s\n' "pgbench tps, + pg_notify per commit" "$tps_notify"
    printf '    %-42s %s\n' "pgbench tps, + one shared hot row" "$tps_hot"
    printf '    %-42s %s\n' "flows/s, one requestor per flow" "$(get "$f3" flows_per_s) (errors $(get "$f3" errors); ratio $(awk -v f="$(get "$f3" flows_per_s)" -v t="$tps" 'BEGIN { printf "%.2f", f / (t / 2) }'))"
    printf '    %-42s %s\n' "  RD-Confirm p50/p99, wake-up p50/p99" "$(pct "$f3" confirm), $(pct "$f3" wakeup)"
  fi
  printf '  %-44s %s\n' "exit codes flows/idle/flows/diagnostic" "$flows_rc/$idle_rc/$flows2_rc/$flows3_rc"
} | tee "$root/bench/last-run.txt"

[ "$flows_rc" = 0 ] && [ "$flows2_rc" = 0 ] && [ "$idle_rc" = 0 ] && [ "$flows3_rc" = 0 ]
