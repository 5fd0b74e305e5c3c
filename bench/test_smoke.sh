#!/usr/bin/env bash
# test_bench_smoke: bench/run.sh in its smoke mode (BENCH_SMOKE=1: 2 flows,
# 2 s, 50 idle polls, no diagnostics) against the binaries of this build
# tree, so that the benchmark cannot rot unnoticed. The CIBA peer is skipped
# here (CIBA=0): it needs npm and the network, which tests never use. The
# figures of such a run mean nothing; the test checks that every part ran
# without an error and that every target line carries its verdict.
#
#   test_smoke.sh SOURCE_DIR BUILD_DIR
set -euo pipefail

src=$1 build=$2
out=$(mktemp "${TMPDIR:-/tmp}/owcp-bench-smoke.XXXXXX")
trap 'rm -f "$out"' EXIT

rc=0
BENCH_SMOKE=1 BENCH_BUILD=0 BUILD_DIR=$build CIBA=0 OUT='' \
  "$src/bench/run.sh" >"$out" || rc=$?
cat "$out"
fail() { echo "test_bench_smoke: $*" >&2; exit 1; }
[ "$rc" = 0 ] || fail "bench/run.sh exited $rc"

verdict='(met|not met)'
for pattern in \
  "flows/s ÷ CIBA flows/s \[>= 1\.0\] +not measured: not run \(CIBA=0\)" \
  "flows/s ÷ \(pgbench tps ÷ 2\) \[>= 0\.5; stretch 0\.8\] +[0-9.]+  $verdict \(stretch $verdict\)" \
  "whole-flow p99 vs CIBA p99 \[<=\] +[0-9.]+ ms vs — +not measured" \
  "wake-up p99 at 2 flows \[<= 20 ms\] +[0-9.]+ ms  $verdict" \
  "write transactions per flow \[<= 3\] +[0-9.]+  $verdict" \
  "database CPU per flow \[<= 1 ms\] +[0-9.]+ ms  $verdict" \
  "50 idle long polls, dispatcher VmHWM \[<= 512 MiB\] +[0-9]+ MiB  $verdict  \(held 50, min during flows 50\)" \
  "flows/s +[0-9.]+  \([1-9][0-9]* flows in 2s, errors 0\)" \
  "exit codes flows/idle/flows/diagnostic/CIBA +0/0/0/0/0"; do
  grep -Eq "$pattern" "$out" || fail "no line matching: $pattern"
done
# The window counters were read: a flow costs at least one write
# transaction and some database CPU.
awk '/write transactions per flow/ { exit !($(NF-1) + 0 >= 1 || $(NF-2) + 0 >= 1) }' "$out" ||
  fail "write transactions per flow not measured"
echo "test_bench_smoke: ok"
