#!/usr/bin/env bash
# test_install.sh SOURCE_DIR PREFIX — builds this source tree as a package
# would: a copy without tests/, configured with -DBUILD_TESTING=OFF and with
# cmocka hidden from pkg-config; installs it into PREFIX (emptied first) and
# checks what a user of the installed tree needs: the programs run, the man
# pages render, the unit, sysusers file and example configuration are in
# place, the installed admin and dispatcher run against a throwaway
# cluster (installed_run.sh), and a program builds against the installed
# headers, libraries and pkg-config files. test_systemd_unit.sh then checks the installed unit.
set -u
src=$1
prefix=$2
fails=0
fail() { echo "FAIL $*"; fails=$((fails + 1)); }
ok() { echo "ok   $*"; }

work=$(mktemp -d "${TMPDIR:-/tmp}/owcp-install.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The source tree as a release tarball has it: no tests/, no build trees
# (any directory holding a CMakeCache.txt), no git metadata.
mkdir "$work/src"
tar -C "$src" --exclude=./.git --exclude=./tests --exclude=./.tmp \
  --exclude-tag-all=CMakeCache.txt -cf - . | tar -C "$work/src" -xf - ||
  { echo "FAIL copying the source tree"; exit 1; }

# pkg-config sees every module of this machine except cmocka.
mkdir "$work/pc"
IFS=: read -r -a pcdirs <<<"${PKG_CONFIG_PATH:+$PKG_CONFIG_PATH:}$(pkg-config --variable pc_path pkg-config)"
for d in "${pcdirs[@]}"; do
  [ -d "$d" ] || continue
  for f in "$d"/*.pc; do
    [ -e "$f" ] && [ "$(basename "$f")" != cmocka.pc ] && [ ! -e "$work/pc/$(basename "$f")" ] &&
      ln -s "$f" "$work/pc/"
  done
done
export PKG_CONFIG_LIBDIR=$work/pc PKG_CONFIG_PATH=
if pkg-config --exists cmocka; then fail "cmocka still visible to pkg-config"; exit 1; fi

rm -rf "$prefix"
log=$work/build.log
if cmake -S "$work/src" -B "$work/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
     -DBUILD_TESTING=OFF -DCMAKE_INSTALL_PREFIX="$prefix" >"$log" 2>&1 &&
   cmake --build "$work/build" -j"${JOBS:-2}" >>"$log" 2>&1 &&
   cmake --install "$work/build" >>"$log" 2>&1; then
  ok "configure, build and install with BUILD_TESTING=OFF, without cmocka and tests/"
else
  fail "configure/build/install; last lines of the log:"; tail -40 "$log"; exit 1
fi
grep -qi cmocka "$work/build/CMakeCache.txt" && fail "cmocka looked for with BUILD_TESTING=OFF"

# expect_file PATH [TEST]: PATH exists (and passes `test -TEST`).
expect_file() {
  if [ -e "$prefix/$1" ] && { [ $# -lt 2 ] || test "-$2" "$prefix/$1"; }; then ok "$1"; else fail "missing $1"; fi
}
expect_file sbin/owcp-dispatcher x
expect_file sbin/owcp-admin x
expect_file bin/owcp-request x
expect_file bin/owcp-client x
expect_file lib/systemd/system/owcp-dispatcher.service f
expect_file sbin/owcp-bridge x
expect_file lib/systemd/system/owcp-bridge.service f
expect_file share/doc/owcp/bridge.conf.example f
expect_file share/man/man8/owcp-bridge.8 f
expect_file share/owcp/sql/bridge/001_initial.sql f
expect_file lib/sysusers.d/owcp.conf f
expect_file share/doc/owcp/dispatcher.conf.example f
for h in requestor client request barcode util render xmlresult; do expect_file "include/owcp/$h.h" f; done

# The installed programs run. The libraries are found through
# LD_LIBRARY_PATH, as the scratch prefix is not in the loader's path.
libdir=$(dirname "$(find "$prefix" -name 'libowcp-requestor.so' | head -1)")
export LD_LIBRARY_PATH=$libdir
# The PAM module: in the PAM module directory under the libdir (with
# -DCMAKE_INSTALL_PREFIX=/usr, where libpam looks), exporting only pam_sm_*.
pam=$libdir/security/pam_owcp.so
if [ -f "$pam" ]; then ok "${pam#"$prefix"/}"; else fail "missing $libdir/security/pam_owcp.so"; fi
exports=$(nm -D --defined-only "$pam" 2>/dev/null | awk '{print $3}' | sort | tr '\n' ' ')
[ "$exports" = "pam_sm_acct_mgmt pam_sm_authenticate pam_sm_setcred " ] &&
  ok "pam_owcp.so exports only pam_sm_*" || fail "pam_owcp.so exports: $exports"
# expect_help PROGRAM PATTERN: PROGRAM --help exits 0 and prints PATTERN.
expect_help() {
  local out
  if out=$("$prefix/$1" --help 2>&1) && grep -q -- "$2" <<<"$out"; then ok "$1 --help"; else fail "$1 --help: $out"; fi
}
expect_help sbin/owcp-dispatcher 'usage: owcp-dispatcher'
expect_help sbin/owcp-admin 'usage: owcp-admin'
expect_help bin/owcp-request 'usage: owcp-request'
expect_help bin/owcp-client 'usage: owcp-client'

# Man pages: installed where man looks, render without a warning, and name
# the program.
for page in man8/owcp-dispatcher.8 man8/owcp-admin.8 man8/owcp-bridge.8 man1/owcp-request.1 man1/owcp-client.1; do
  f=$prefix/share/man/$page
  name=$(basename "${page%.*}")
  if [ ! -f "$f" ]; then fail "missing man page $page"; continue; fi
  out=$(MANWIDTH=80 man --warnings -l "$f" 2>"$work/man.err")
  if [ -s "$work/man.err" ] || ! grep -q "^NAME" <<<"$out" || ! grep -q "$name - " <<<"$out"; then
    fail "man -l $page:"; cat "$work/man.err"
  else
    ok "man -l $page"
  fi
done
for name in owcp-dispatcher owcp-admin owcp-request owcp-client; do
  if MANPATH=$prefix/share/man man -w "$name" >/dev/null 2>&1; then ok "man $name found"; else fail "man $name not found under the prefix"; fi
done

# The unit names the installed dispatcher and the configuration file.
unit=$prefix/lib/systemd/system/owcp-dispatcher.service
grep -qx "ExecStart=$prefix/sbin/owcp-dispatcher --config /etc/owcp/dispatcher.conf" "$unit" ||
  fail "unit ExecStart: $(grep ExecStart= "$unit")"

# The example configuration: one [dispatcher] section naming every key of
# the dispatcher's table (test_config_example.sh checks the source's).
# shellcheck source=conf_edit.sh
. "$(dirname "$0")/conf_edit.sh"
conf=$prefix/share/doc/owcp/dispatcher.conf.example
for key in $(dispatcher_keys "$src"); do
  grep -Eq "^#?$key = ?" "$conf" || fail "example configuration lacks $key"
done

# The installed tree runs: the installed owcp-admin migrates a throwaway
# cluster with the installed migrations, the installed owcp-dispatcher
# (configured from the installed example alone) passes check and serves
# /healthz and /metrics.
if "$src/scripts/with-pg.sh" "$(dirname "$0")/installed_run.sh" "$prefix"; then
  ok "the installed admin and dispatcher run against a throwaway cluster"
else
  fail "the installed admin and dispatcher against a throwaway cluster (above)"
fi

# A program builds and links against the installed headers and libraries,
# found through the installed pkg-config files only.
export PKG_CONFIG_PATH=$libdir/pkgconfig PKG_CONFIG_LIBDIR=$PKG_CONFIG_LIBDIR
cat >"$work/use.c" <<'C'
#include <owcp/client.h>
#include <owcp/requestor.h>
int main(void)
{
  /* Linked, hence resolved through the installed libraries. */
  void (*volatile used[])(void) = {(void (*)(void))owcp_client_open,
                                   (void (*)(void))owcp_requestor_new};
  return used[0] == 0 || used[1] == 0;
}
C
# shellcheck disable=SC2046
if cc -std=c11 -Wall -Wextra -Werror -o "$work/use" "$work/use.c" \
     $(pkg-config --cflags --libs owcp-client owcp-requestor) 2>"$work/cc.err" && "$work/use"; then
  ok "a program builds against the installed owcp-client and owcp-requestor"
else
  fail "building against the installed tree:"; cat "$work/cc.err"
fi

[ "$fails" -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "all passed"
