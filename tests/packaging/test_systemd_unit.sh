#!/usr/bin/env bash
# test_systemd_unit.sh PREFIX — the unit and sysusers file test_install.sh
# installed under PREFIX: `systemd-analyze verify` accepts the unit without
# one warning about it (it also checks that ExecStart is executable and
# that the man pages in Documentation= exist), the sandboxing rates
# "OK" in `systemd-analyze security`, and systemd-sysusers creates the
# owcp user from the installed file (in a scratch root).
set -u
prefix=$1
unit=$prefix/lib/systemd/system/owcp-dispatcher.service
sysusers=$prefix/lib/sysusers.d/owcp.conf
fails=0
fail() { echo "FAIL $*"; fails=$((fails + 1)); }
[ -f "$unit" ] || { echo "FAIL no unit at $unit (test_install installs it)"; exit 1; }

# The dispatcher's unit and the bridge's (same hardening): each checked.
for name in owcp-dispatcher owcp-bridge; do
  unit=$prefix/lib/systemd/system/$name.service
  [ -f "$unit" ] || { fail "no unit at $unit (test_install installs it)"; continue; }
  # Other units on this machine may draw warnings of their own; any line
  # naming ours, or a non-zero status, fails.
  out=$(MANPATH=$prefix/share/man systemd-analyze verify "$unit" 2>&1)
  rc=$?
  echo "$out"
  if [ "$rc" -ne 0 ] || grep -q "$name" <<<"$out"; then
    fail "systemd-analyze verify (status $rc)"
  else
    echo "ok   systemd-analyze verify $name"
  fi

  # Exposure 0 (safe) to 10; below 2.0 is what systemd calls "OK".
  out=$(systemd-analyze security --offline=yes --threshold=19 "$unit" 2>&1)
  rc=$?
  echo "$out" | tail -3
  if [ "$rc" -ne 0 ]; then fail "systemd-analyze security: exposure above 1.9"; else echo "ok   systemd-analyze security $name"; fi
done

root=$(mktemp -d "${TMPDIR:-/tmp}/owcp-sysusers.XXXXXX")
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/etc"
if systemd-sysusers --root="$root" "$sysusers" >"$root/log" 2>&1 &&
   grep -q '^owcp:x:[0-9]*:[0-9]*:owcp dispatcher:/var/lib/owcp-dispatcher:' "$root/etc/passwd" &&
   grep -q '^owcp:' "$root/etc/group"; then
  echo "ok   systemd-sysusers creates owcp"
else
  fail "systemd-sysusers:"; cat "$root/log" "$root/etc/passwd" 2>/dev/null
fi

[ "$fails" -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "all passed"
