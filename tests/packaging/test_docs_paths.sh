#!/usr/bin/env bash
# test_docs_paths.sh SOURCE_DIR — the documents name only files that
# exist. Every backticked repository path in docs/*.md and README.md
# (`dir/file.c`, `dir/`: one whose first component is a top-level
# directory of the source tree) must exist; so must a bare file name
# backticked after such a path on the same line (`service/pg.c`,
# `pgpool.c`: pgpool.c is service/pgpool.c). Placeholders (NNN, NAME, ...)
# and paths outside the tree (../shared/...) or in a build tree are not
# checked; `dir/*.c` must match a file, `dir/x.{c,h}` names both.
set -u
src=$1
cd "$src" || exit 1
fails=0 checked=0
placeholder='(^|/)(NNN|NAME|DIR|FILE|DAEMON|PREFIX|SYSCONFDIR|VERSION)([_./]|$)'

# check FILE:LINE PATH: counts it, and fails when it does not exist (a
# glob: when it matches nothing; a.{x,y}: unless both a.x and a.y exist).
check() {
  local p=$2 stem alt a
  checked=$((checked + 1))
  if [[ $p =~ ^([^{}]*)\{([A-Za-z0-9_,.-]+)\}$ ]]; then
    stem=${BASH_REMATCH[1]}
    IFS=, read -r -a alt <<<"${BASH_REMATCH[2]}"
    for a in "${alt[@]}"; do check "$1" "$stem$a"; done
  elif [[ $p == *'*'* ]]; then
    compgen -G "$p" >/dev/null || { echo "FAIL $1: \`$p\` matches no file"; fails=$((fails + 1)); }
  elif [ ! -e "$p" ]; then
    echo "FAIL $1: \`$p\` does not exist"; fails=$((fails + 1))
  fi
}

for doc in docs/*.md README.md; do
  n=0
  while IFS= read -r line; do
    n=$((n + 1))
    dir=''
    while IFS= read -r tok; do
      tok=${tok//\`/}
      if [[ $tok == */* ]]; then
        dir=''
        [[ $tok == ../* || $tok == /* ]] && continue
        top=${tok%%/*}
        [ -n "$top" ] && [ -d "$top" ] && [ ! -e "$top/CMakeCache.txt" ] || continue
        [[ $tok =~ $placeholder || $tok == *'<'* ]] && continue
        check "$doc:$n" "${tok%/}"
        if [ -d "${tok%/}" ]; then dir=${tok%/}; else dir=$(dirname "$tok"); fi
      elif [ -n "$dir" ] && [[ $tok =~ ^[A-Za-z0-9_-]+\.(c|h|sh|sql|cmake|in|scd|md|txt|example)$ ]]; then
        check "$doc:$n" "$dir/$tok"
      fi
    done < <(grep -oE '`[^` ]+`' <<<"$line")
  done <"$doc"
done
echo "$checked paths checked"
[ "$checked" -gt 50 ] || { echo "FAIL too few paths found ($checked): the extraction is broken"; exit 1; }
[ "$fails" -eq 0 ] || { echo "$fails missing"; exit 1; }
echo "all passed"
