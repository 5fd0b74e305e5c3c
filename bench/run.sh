#!/usr/bin/env bash
# bench/run.sh — the dispatcher benchmark in one command (see bench/README.md).
#
# Builds a Release tree (build-bench) when needed, then, inside a throwaway
# durable PostgreSQL cluster (scripts/with-pg.sh --durable: fsync and
# synchronous_commit on):
#   1. pgbench with bench/pgbench-commit.sql at the flows' concurrency:
#      this machine's durable-commit limit (tps);
#   2. the CIBA peer (../shared/peers/ciba, node-oidc-provider in poll mode,
#      in memory) copied to a temporary directory, npm-installed, served on
#      loopback and driven by its load.js at the same concurrency, then
#      stopped: the flows/s and p99 to beat;
#   3. owcp-dispatcher (--open, plain HTTP on loopback) and owcp-bench flows,
#      with the database's counters and CPU read at the measured window's
#      edges (write transactions and database CPU per flow);
#   4. owcp-bench idle holding 10,000 CD-List long polls, the dispatcher's
#      RSS while they are held, and owcp-bench flows again beside them;
# and prints one summary block, the targets first with met / not met (also
# written to bench/last-run.txt). Stops by itself; exit status 0 only when
# no operation failed anywhere and every requested part ran.
#
# Environment (defaults in brackets):
#   FLOWS [32]            concurrent flows (and pgbench clients, CIBA requestors)
#   SECONDS_FLOWS [20]    measured seconds of each flows run (and of CIBA's)
#   WARMUP [3]            unmeasured seconds before each flows run
#   PG_SECONDS [20]       pgbench duration
#   IDLE_POLLS [10000]    idle long polls to hold
#   IDLE_CLIENTS [100]    clients the idle polls are spread over
#   THREADS [32]          owcp-dispatcher --threads (= its database connections)
#   CIBA [1]              1: run the CIBA peer (needs node, npm and the npm
#                         registry, or npm's cache); 0: skip it
#   CIBA_DIR [../shared/peers/ciba]  the peer's sources (read-only; copied)
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
#   BENCH_BUILD [1]       0: use the binaries in BUILD_DIR as they are
#   BENCH_SMOKE [0]       1: tiny durations and counts (2 flows, 2 s, 50 idle
#                         polls, no diagnostics, no CIBA) to check that the
#                         benchmark runs — its figures mean nothing
#   OUT [bench/last-run.txt; smoke: none]  where the summary is also written
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build-bench}

if [ "${1:-}" != "--inside" ]; then
  if [ "${BENCH_BUILD:-1}" = 1 ]; then
    # The dispatcher's -O2 build trips -Wformat-truncation in outbox.c (a
    # log sentence that may be cut short); that is a warning, not a reason
    # to have no benchmark.
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DOWCP_SANITIZE=OFF -DCMAKE_C_FLAGS="-Wno-error=format-truncation" >/dev/null
    cmake --build "$build" --target owcp-bench owcp-dispatcher owcp-admin \
      -j"${JOBS:-2}" >/dev/null
  fi
  exec "$root/scripts/with-pg.sh" --durable "$0" --inside
fi

if [ "${BENCH_SMOKE:-0}" = 1 ]; then
  : "${FLOWS:=2}" "${SECONDS_FLOWS:=2}" "${WARMUP:=1}" "${PG_SECONDS:=2}"
  : "${IDLE_POLLS:=50}" "${IDLE_CLIENTS:=25}" "${THREADS:=4}" "${DIAG:=0}"
  : "${CIBA:=0}" "${OUT:=}"
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
CIBA=${CIBA:-1}
CIBA_DIR=${CIBA_DIR:-$root/../shared/peers/ciba}
OUT=${OUT-$root/bench/last-run.txt}

bench=$build/bench/owcp-bench
admin=$build/dispatcher/owcp-admin
dispatcher=$build/dispatcher/owcp-dispatcher
pgbin=$OWCP_PGBIN
pghost=$OWCP_PGHOST
db=$OWCP_TEST_DB

tmp=$(mktemp -d "${TMPDIR:-/tmp}/owcp-bench.XXXXXX")
chmod 700 "$tmp"
dpid="" ipid="" spid="" spid_wait="" cpid=""
cleanup() {
  for p in $spid_wait $spid $ipid $dpid $cpid; do
    kill -TERM "$p" 2>/dev/null || true
  done
  for p in $spid_wait $spid $ipid $dpid $cpid; do
    wait "$p" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT

say() { printf '%s\n' "$*" >&2; }
die() { say "bench/run.sh: $*"; exit 1; }

# `key value` lines of a summary file; prints the value of key (or "?").
get() { awk -v k="$2" '$1 == k { print $2; found = 1 } END { if (!found) print "?" }' "$1" 2>/dev/null || echo "?"; }

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

# ---- 2. the CIBA peer ---------------------------------------------------------
# A copy in $tmp (the shared folder is read-only), its dependencies from npm,
# its server on a free loopback port, load.js at our concurrency, stopped.
ciba_fps="" ciba_p99="" ciba_p50="" ciba_errors="" ciba_cpu="" ciba_note="" ciba_rc=0
free_port() {
  local p
  for p in $(seq 18090 18190); do
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
  done
  return 1
}
run_ciba() {
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    ciba_note="node or npm is not installed (scripts/install-deps.sh test)"
    return 1
  fi
  command -v jq >/dev/null || { ciba_note="jq is not installed"; return 1; }
  [ -f "$CIBA_DIR/load.js" ] || { ciba_note="no CIBA peer in $CIBA_DIR"; return 1; }
  mkdir "$tmp/ciba"
  cp -R "$CIBA_DIR/." "$tmp/ciba/"
  chmod -R u+w "$tmp/ciba"
  (cd "$tmp/ciba" && timeout 300 npm install --no-audit --no-fund --loglevel=error) \
    >"$tmp/npm.log" 2>&1 ||
    { ciba_note="npm install failed: $(tail -n 1 "$tmp/npm.log")"; return 1; }
  local port
  port=$(free_port) || { ciba_note="no free loopback port in 18090-18190"; return 1; }
  (cd "$tmp/ciba" && NODE_ENV=production PORT=$port APPROVE=http exec node server.js) \
    >"$tmp/ciba-server.log" 2>&1 &
  cpid=$!
  local i=0
  until grep -q '^ready ' "$tmp/ciba-server.log"; do
    kill -0 "$cpid" 2>/dev/null ||
      { ciba_note="the CIBA server exited: $(tail -n 1 "$tmp/ciba-server.log")"; return 1; }
    i=$((i + 1))
    [ $i -le 300 ] || { ciba_note="the CIBA server was not ready within 30 s"; return 1; }
    sleep 0.1
  done
  (cd "$tmp/ciba" && PORT=$port APPROVE=http PENDING_POLLS=0 DURATION_S="$SECONDS_FLOWS" \
    WARMUP_S="$WARMUP" timeout $((SECONDS_FLOWS + WARMUP + 120)) node load.js "$FLOWS") \
    >"$tmp/ciba.out" 2>&1 || { ciba_note="load.js failed: $(tail -n 1 "$tmp/ciba.out")"; }
  kill -TERM "$cpid" 2>/dev/null || true
  wait "$cpid" 2>/dev/null || true
  cpid=""
  [ -z "$ciba_note" ] || return 1
  local json
  json=$(tail -n 1 "$tmp/ciba.out")
  ciba_fps=$(jq -r '.flowsPerSec' <<<"$json")
  ciba_p50=$(jq -r '.latencyMs.p50' <<<"$json")
  ciba_p99=$(jq -r '.latencyMs.p99' <<<"$json")
  ciba_errors=$(jq -r '.errors' <<<"$json")
  ciba_cpu=$(jq -r '.serverCpuMsPerFlow' <<<"$json")
  [ "$ciba_errors" = 0 ] || { ciba_note="load.js counted $ciba_errors errors"; return 1; }
  head -n 1 "$tmp/ciba.out" >&2
}
if [ "$CIBA" = 1 ]; then
  say "== CIBA peer: $FLOWS requestors, ${SECONDS_FLOWS}s after ${WARMUP}s warm-up"
  run_ciba || { ciba_rc=1; say "CIBA peer: $ciba_note"; }
else
  ciba_note="not run (CIBA=0)"
fi

# ---- 3. the dispatcher ---------------------------------------------------------
"$admin" --db "$db" migrate >/dev/null
"$admin" --db "$db" requestor add bench@example.com --rate 1000000 | tail -n 1 >"$tmp/token"
chmod 600 "$tmp/token"
grep -q . "$tmp/token" || die "owcp-admin printed no requestor token"

# The idle polls share IDLE_CLIENTS tokens: let each token hold its share
# (the default, 8, is meant for one device's few polls).
per_token=$(((IDLE_POLLS + IDLE_CLIENTS - 1) / IDLE_CLIENTS))
[ "$per_token" -ge 8 ] || per_token=8
# Every connection and every CD-Register comes from 127.0.0.1: the idle
# polls, the flows (three each) and slack for the diagnostics.
per_ip=$((IDLE_POLLS + 4 * FLOWS + 64))
# Every flow and idle client registers its device from 127.0.0.1 too, a
# few hundred within a minute: lift the per-address CD-Register limit
# (issue 10's default, 20 a minute, is for real devices).
registers=1000000
# One connection per idle poll; the hard limit is as far as we may go.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
"$dispatcher" --db "$db" --listen 127.0.0.1:0 --domain example.com \
  --insecure-http --open --key-dir "$tmp/keys" --max-connections 16000 \
  --threads "$THREADS" --longpolls-per-token "$per_token" \
  --per-ip-connections "$per_ip" \
  --register-per-minute-per-address "$registers" \
  ${DISPATCHER_ARGS:-} --ready-file "$tmp/ready" 2>"$tmp/dispatcher.log" &
dpid=$!
await_file "$tmp/ready" 30 "$dpid"
base=$(head -n 1 "$tmp/ready")
say "dispatcher pid $dpid at $base (fd limit $(ulimit -n))"

# The measured window's edges: owcp-bench runs this hook ("open", "close")
# exactly as its window opens and closes. Each call writes one line:
#   wall-seconds machine-busy-ticks machine-total-ticks dispatcher-ticks
#   postgres-ticks xid xact-commits wal-bytes
# PostgreSQL's ticks are the postmaster's own and its reaped children's
# (fields 14-17) plus every live child's (14-15): a backend that ends
# inside the window is still counted.
cat >"$tmp/window" <<'HOOK'
#!/usr/bin/env bash
set -eu
pm=$(head -n 1 "$OWCP_PGDATA/postmaster.pid")
{
  date +%s.%N
  awk '$1 == "cpu" { b = $2 + $3 + $4 + $7 + $8 + $9; print b, b + $5 + $6 }' /proc/stat
  awk '{ print $14 + $15 }' "/proc/$BENCH_DPID/stat"
  { awk '{ print $14 + $15 + $16 + $17 }' "/proc/$pm/stat"
    for c in $(ps -o pid= --ppid "$pm"); do
      awk '{ print $14 + $15 }' "/proc/$c/stat" 2>/dev/null || true
    done; } | awk '{ s += $1 } END { print s + 0 }'
  "$OWCP_PGBIN/psql" -h "$OWCP_PGHOST" -U postgres -d owcp -X -q -At -F ' ' -c \
    "SELECT txid_current(), (SELECT xact_commit FROM pg_stat_database WHERE datname = 'owcp'), pg_current_wal_lsn() - '0/0'::pg_lsn"
} | tr '\n' ' ' >"$BENCH_WINDOW_OUT.$1"
HOOK
chmod 700 "$tmp/window"
export BENCH_DPID=$dpid

# Figures over the window of one flows run ($1: the hook's output prefix,
# $2: the flows summary), appended to the summary as key value lines.
window_figures() {
  if [ ! -s "$1.open" ] || [ ! -s "$1.close" ]; then
    say "no window counters for $2"
    return 0
  fi
  local flows
  flows=$(get "$2" flows)
  awk -v hz="$(getconf CLK_TCK)" -v flows="$flows" '
    NR == FNR { split($0, a, " "); next } { split($0, b, " ") }
    END {
      w = b[1] - a[1]; f = (flows > 0) ? flows : 1
      printf "window_s %.2f\n", w
      printf "busy_pct %.0f\n", 100 * (b[2] - a[2]) / (b[3] - a[3])
      printf "dispatcher_cpus %.2f\n", (b[4] - a[4]) / hz / w
      printf "postgres_cpus %.2f\n", (b[5] - a[5]) / hz / w
      printf "dispatcher_ms_per_flow %.2f\n", 1000 * (b[4] - a[4]) / hz / f
      printf "postgres_ms_per_flow %.2f\n", 1000 * (b[5] - a[5]) / hz / f
      printf "xid_per_flow %.2f\n", (b[6] - a[6] - 1) / f
      printf "xact_per_flow %.2f\n", (b[7] - a[7]) / f
      printf "wal_per_flow %.0f\n", (b[8] - a[8]) / f
    }' "$1.open" "$1.close" >>"$2"
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

run_flows() { # $1: account prefix, $2: summary file, $3: waits file, [$4: token file]
  local rc=0
  start_wait_sampler "$3"
  BENCH_WINDOW_OUT=$2.win "$bench" flows --base "$base" --token-file "${4:-$tmp/token}" \
    --prefix "$1" --flows "$FLOWS" --seconds "$SECONDS_FLOWS" --warmup "$WARMUP" \
    --window-cmd "$tmp/window" --summary "$2" >&2 || rc=$?
  stop_wait_sampler
  [ -s "$2" ] && window_figures "$2.win" "$2"
  return $rc
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
flows_rc=0
run_flows bench "$tmp/flows1.sum" "$tmp/waits1" || flows_rc=$?
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

# ---- 4. idle long polls, and flows beside them -----------------------------------
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
  run_flows bench3 "$tmp/flows3.sum" "$tmp/waits3" "$tmp/tokens" || flows3_rc=$?
fi

kill -TERM "$dpid"
wait "$dpid" || true
dpid=""

# ---- summary ----------------------------------------------------------------------
f1=$tmp/flows1.sum f2=$tmp/flows2.sum
fps=$(get "$f1" flows_per_s)
flows1=$(get "$f1" flows)
fps2=$(get "$f2" flows_per_s)
flow_p99=$(get "$f1" flow_p99_ms)
wake_p99=$(get "$f1" wakeup_p99_ms)
xid_pf=$(get "$f1" xid_per_flow)
pg_ms=$(get "$f1" postgres_ms_per_flow)
hwm_mib=$((hwm / 1024))
ratio_pg=$(awk -v f="$fps" -v t="$tps" 'BEGIN { printf "%.2f", f / (t / 2) }')

# "met" / "not met" for value OP target; "not measured" when either is missing.
verdict() { awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN {
  if (v == "" || v == "?" || t == "" || t == "?") { print "not measured"; exit }
  ok = (op == ">=") ? (v + 0 >= t + 0) : (v + 0 <= t + 0); print ok ? "met" : "not met" }'; }
pct() { get "$1" "${2}_p50_ms" | tr '\n' '/'; get "$1" "${2}_p99_ms"; }
line() { printf '  %-50s %s\n' "$1" "$2"; }
if [ -n "$ciba_fps" ]; then
  ratio_ciba=$(awk -v f="$fps" -v c="$ciba_fps" 'BEGIN { printf "%.2f", f / c }')
  ciba_ratio_line="$ratio_ciba  $(verdict "$ratio_ciba" 1.0 '>=')  (owcp $fps, CIBA $ciba_fps flows/s)"
  ciba_p99_line="$flow_p99 vs $ciba_p99 ms  $(verdict "$flow_p99" "$ciba_p99" '<=')"
else
  ciba_ratio_line="not measured: $ciba_note"
  ciba_p99_line="$flow_p99 ms vs —  not measured"
fi

{
  echo "owcp dispatcher benchmark — $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs, $(uname -r)"
  echo "  (durable PostgreSQL 15: fsync on, synchronous_commit on; $FLOWS concurrent flows)"
  [ "${BENCH_SMOKE:-0}" != 1 ] || echo "  SMOKE RUN (BENCH_SMOKE=1): tiny durations, the figures mean nothing"
  echo
  echo "  targets:"
  line "flows/s ÷ CIBA flows/s [>= 1.0]" "$ciba_ratio_line"
  line "flows/s ÷ (pgbench tps ÷ 2) [>= 0.5; stretch 0.8]" \
    "$ratio_pg  $(verdict "$ratio_pg" 0.5 '>=') (stretch $(verdict "$ratio_pg" 0.8 '>='))"
  line "whole-flow p99 vs CIBA p99 [<=]" "$ciba_p99_line"
  line "wake-up p99 at $FLOWS flows [<= 20 ms]" "$wake_p99 ms  $(verdict "$wake_p99" 20 '<=')"
  line "write transactions per flow [<= 3]" "$xid_pf  $(verdict "$xid_pf" 3 '<=')"
  line "database CPU per flow [<= 1 ms]" "$pg_ms ms  $(verdict "$pg_ms" 1 '<=')"
  line "$IDLE_POLLS idle long polls, dispatcher VmHWM [<= 512 MiB]" \
    "$hwm_mib MiB  $(verdict "$hwm_mib" 512 '<=')  (held $held_ready, min during flows $held_min)"
  echo
  echo "  figures:"
  line "pgbench durable tps (1 KB INSERT + UPDATE)" "$tps"
  line "flows/s" "$fps  ($flows1 flows in ${SECONDS_FLOWS}s, errors $(get "$f1" errors))"
  if [ -n "$ciba_fps" ]; then
    line "CIBA peer flows/s, p50/p99 ms, server CPU/flow" "$ciba_fps, $ciba_p50/$ciba_p99, $ciba_cpu ms"
  fi
  line "transactions per flow: write (xid), all (commits)" "$xid_pf, $(get "$f1" xact_per_flow)"
  line "WAL bytes per flow" "$(get "$f1" wal_per_flow)"
  line "CPU per flow: PostgreSQL, dispatcher, owcp-bench (ms)" "$pg_ms, $(get "$f1" dispatcher_ms_per_flow), $(get "$f1" cpu_ms_per_flow)"
  line "CPU in the window: busy, CPUs used" "$(get "$f1" busy_pct)%; PostgreSQL $(get "$f1" postgres_cpus), dispatcher $(get "$f1" dispatcher_cpus), owcp-bench $(get "$f1" cpu_per_s)"
  line "database sessions during flows (sampled)" "$(top_waits "$tmp/waits1")"
  echo "  latency p50/p99 in ms:"
  printf '    %-48s %s\n' "RD-Confirm" "$(pct "$f1" confirm)"
  printf '    %-48s %s\n' "CD-List wake (RD-Confirm sent -> answer)" "$(pct "$f1" list_wake)"
  printf '    %-48s %s\n' "CD-Reply" "$(pct "$f1" reply)"
  printf '    %-48s %s\n' "RD-Status" "$(pct "$f1" status)"
  printf '    %-48s %s\n' "receipt signing (client CPU)" "$(pct "$f1" sign)"
  printf '    %-48s %s\n' "whole flow" "$(pct "$f1" flow)"
  printf '    %-48s %s\n' "wake-up (202 -> CD-List answer)" "$(pct "$f1" wakeup)  (clamped to 0: $(get "$f1" wakeup_clamped))"
  line "dispatcher VmRSS with the idle polls held" "$((rss_held / 1024)) MiB ($fds_held fds); after flows $((rss_after / 1024)) MiB; VmHWM $hwm_mib MiB"
  line "idle polls held during the second flows run" "now $held_after, min $held_min of $IDLE_POLLS"
  line "flows/s while idle polls are held" "$fps2  (errors $(get "$f2" errors); $(awk -v a="$fps2" -v b="$fps" 'BEGIN { if (b > 0) printf "%.0f%%", 100 * a / b; else print "?" }') of the first run)"
  line "wake-up p50/p99 ms while idle polls held" "$(pct "$f2" wakeup)"
  if [ "$DIAG" = 1 ]; then
    f3=$tmp/flows3.sum
    echo "  diagnostics (what limits flows/s):"
    printf '    %-48s %s\n' "pgbench tps, + pg_notify per commit" "$tps_notify"
    printf '    %-48s %s\n' "pgbench tps, + one shared hot row" "$tps_hot"
    printf '    %-48s %s\n' "flows/s, one requestor per flow" "$(get "$f3" flows_per_s) (errors $(get "$f3" errors); ratio $(awk -v f="$(get "$f3" flows_per_s)" -v t="$tps" 'BEGIN { printf "%.2f", f / (t / 2) }'))"
    printf '    %-48s %s\n' "  RD-Confirm p50/p99, wake-up p50/p99" "$(pct "$f3" confirm), $(pct "$f3" wakeup)"
  fi
  line "exit codes flows/idle/flows/diagnostic/CIBA" "$flows_rc/$idle_rc/$flows2_rc/$flows3_rc/$ciba_rc"
} | if [ -n "$OUT" ]; then tee "$OUT"; else cat; fi

[ "$flows_rc" = 0 ] && [ "$flows2_rc" = 0 ] && [ "$idle_rc" = 0 ] &&
  [ "$flows3_rc" = 0 ] && [ "$ciba_rc" = 0 ]
