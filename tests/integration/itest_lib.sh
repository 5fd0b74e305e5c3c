# itest_lib.sh — helpers the shell integration tests share (source it).
# The caller keeps a failure count in $fails and exits non-zero when it is
# not 0.

fails=${fails:-0}

ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fails=$((fails + 1)); }

# check NAME SHELL-EXPRESSION: passes when the expression succeeds.
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }

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

# wait_for SECONDS COMMAND...: polls COMMAND every 0.1 s until it succeeds.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    [ "$SECONDS" -ge "$deadline" ] && return 1
    sleep 0.1
  done
}
