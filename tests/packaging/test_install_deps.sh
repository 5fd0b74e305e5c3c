#!/usr/bin/env bash
# test_install_deps.sh SCRIPT — scripts/install-deps.sh on this machine,
# where everything is installed: both modes exit 0 at once (no apt-get),
# a bad mode is a usage error; and as a user that is neither root nor has
# sudo, a missing package (OWCP_DEPS_EXTRA, the script's documented hook)
# is named together with the command to run as root, and the script fails
# without having tried to install anything.
set -u
script=$(realpath "$1")
fails=0
fail() { echo "FAIL $*"; fails=$((fails + 1)); }
ok() { echo "ok   $*"; }

for mode in run test; do
  start=$(date +%s%N)
  out=$("$script" "$mode" 2>&1)
  rc=$?
  ms=$((($(date +%s%N) - start) / 1000000))
  if [ "$rc" -eq 0 ] && [ -z "$out" ] && [ "$ms" -lt 5000 ]; then
    ok "install-deps.sh $mode: nothing to do (${ms} ms)"
  else
    fail "install-deps.sh $mode: status $rc after ${ms} ms: $out"
  fi
done
out=$("$script" frob 2>&1)
rc=$?
if [ "$rc" -eq 2 ] && grep -q 'usage: scripts/install-deps.sh \[run|test\]' <<<"$out"; then
  ok "bad mode"
else
  fail "bad mode: status $rc: $out"
fi

# An unprivileged user with a PATH holding only what the script needs:
# no sudo, and no apt-get, so an attempt to install would show.
work=$(mktemp -d "${TMPDIR:-/tmp}/owcp-deps.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/bin"
for t in bash env dpkg-query id; do ln -s "$(command -v "$t")" "$work/bin/"; done
cp "$script" "$work/install-deps.sh"
chmod -R a+rX "$work"
as_user() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u nobody -- "$work/bin/env" -i PATH="$work/bin" "$@"
  else
    env -i PATH="$work/bin" "$@"
  fi
}
out=$(as_user OWCP_DEPS_EXTRA="owcp-test-no-such-package" bash "$work/install-deps.sh" run 2>&1)
rc=$?
echo "$out"
if [ "$rc" -ne 0 ] &&
   grep -q '^install-deps: missing packages: owcp-test-no-such-package$' <<<"$out" &&
   grep -q 'needs root, and sudo is not available' <<<"$out" &&
   grep -q 'apt-get install -y --no-install-recommends owcp-test-no-such-package$' <<<"$out" &&
   ! grep -q 'command not found' <<<"$out"; then
  ok "unprivileged, package missing: says what it needs (status $rc)"
else
  fail "unprivileged, package missing (status $rc)"
fi
# With nothing missing the same user needs no privilege at all.
out=$(as_user bash "$work/install-deps.sh" test 2>&1)
rc=$?
if [ "$rc" -eq 0 ] && [ -z "$out" ]; then
  ok "unprivileged, nothing missing"
else
  fail "unprivileged, nothing missing: status $rc: $out"
fi

[ "$fails" -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "all passed"
