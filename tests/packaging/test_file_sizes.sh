#!/usr/bin/env bash
# test_file_sizes.sh SOURCE_DIR [LIMIT] — no production C file (every .c
# outside tests/) grows past LIMIT lines (850): a file that long holds
# several concerns and is split by concern instead (the project's rule of
# about 800 lines).
set -u
src=$1 limit=${2:-850}
cd "$src" || exit 1
fails=0 n=0
while IFS= read -r -d '' f; do
  n=$((n + 1))
  lines=$(wc -l <"$f")
  if [ "$lines" -gt "$limit" ]; then
    echo "FAIL ${f#./}: $lines lines (at most $limit: split it by concern)"
    fails=$((fails + 1))
  fi
done < <(find . -path ./tests -prune -o -path ./.git -prune -o \
           -type d -exec test -e '{}/CMakeCache.txt' ';' -prune -o \
           -name '*.c' -type f -print0)
[ "$n" -gt 50 ] || { echo "FAIL only $n C files found"; exit 1; }
echo "$n production C files checked"
[ "$fails" -eq 0 ] || exit 1
echo "all passed"
