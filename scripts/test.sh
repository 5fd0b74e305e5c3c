#!/usr/bin/env bash
# The whole test suite, from a fresh clone on a fresh Debian 12 machine:
# installs what is missing, checks formatting and static analysis (cppcheck,
# clang-tidy), builds, runs unit and integration tests (real PostgreSQL
# clusters, real processes), runs every test again under AddressSanitizer +
# UndefinedBehaviorSanitizer, and gives every libFuzzer target a short run.
#
#   scripts/test.sh            everything (what CI runs)
#   FUZZ_SECONDS=10 scripts/test.sh   shorter fuzz smoke run
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
JOBS=${JOBS:-$(nproc)}
FUZZ_SECONDS=${FUZZ_SECONDS:-30}

step() { printf '\n=== %s\n' "$*"; }

step "dependencies"
scripts/install-deps.sh test

step "formatting (clang-format)"
mapfile -t sources < <(git ls-files '*.c' '*.h')
if [ ${#sources[@]} -gt 0 ]; then
  clang-format --dry-run --Werror "${sources[@]}"
fi

step "build (RelWithDebInfo)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$JOBS"

step "static analysis (cppcheck)"
mapfile -t csources < <(git ls-files '*.c')
cppcheck -q --error-exitcode=1 --enable=warning,performance,portability \
  --std=c11 --inline-suppr -I core/include -I core-net/include "${csources[@]}"

step "static analysis (clang-tidy, .clang-tidy)"
# Every tracked C file the build compiles (the fuzz targets are checked
# against the fuzz build's compile database below); any finding fails.
tidy() { # tidy BUILD_DIR FILE...
  local db=$1; shift
  printf '%s\n' "$@" | xargs -P"$JOBS" -n4 clang-tidy -p "$db" --quiet \
    >"$db/clang-tidy.log" 2>&1 || { grep -E '(warning|error):' "$db/clang-tidy.log"; return 1; }
}
in_db() { # in_db BUILD_DIR: the tracked C files its compile database names
  grep -o '"file": "[^"]*"' "$1/compile_commands.json" | cut -d'"' -f4 |
    sed "s|^$top/||" | sort -u | comm -12 - <(git ls-files '*.c' | sort)
}
mapfile -t tidy_sources < <(in_db build)
tidy build "${tidy_sources[@]}"

step "tests (unit + integration)"
(cd build && ctest --output-on-failure -j"$JOBS")

step "sanitizer build (ASan + UBSan) and tests"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DOWCP_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$JOBS"
# Every test, integration included: the dispatcher, the CLIs and the
# libraries run instrumented inside the end-to-end tests too.
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --output-on-failure -j"$JOBS")

step "fuzz smoke run (${FUZZ_SECONDS} s per target)"
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DOWCP_FUZZ=ON >/dev/null
# Every tests/fuzz/fuzz_NAME.c is a target (tests/fuzz/CMakeLists.txt).
mapfile -t fuzz_targets < <(git ls-files 'tests/fuzz/fuzz_*.c' | xargs -n1 basename | sed 's/\.c$//')
cmake --build build-fuzz -j"$JOBS" --target "${fuzz_targets[@]}"
mapfile -t tidy_fuzz < <(in_db build-fuzz | grep '^tests/fuzz/')
tidy build-fuzz "${tidy_fuzz[@]}"
fuzz_failed=0
for t in "${fuzz_targets[@]}"; do
  corpus="$top/tests/fuzz/corpus/$t"
  work=$(mktemp -d)
  seeds=()
  [ -d "$corpus" ] && seeds=("$corpus")
  if ! (cd "$work" && "$top/build-fuzz/tests/fuzz/$t" -max_total_time="$FUZZ_SECONDS" \
        -print_final_stats=0 "$work" "${seeds[@]}" >"$work/log" 2>&1); then
    echo "fuzz target $t FAILED:"; tail -50 "$work/log"; fuzz_failed=1
  else
    echo "fuzz target $t: $(grep -c '' "$work/log") log lines, no crash in ${FUZZ_SECONDS} s"
  fi
  rm -rf "$work"
done
[ $fuzz_failed -eq 0 ] || exit 1

step "all tests passed"
