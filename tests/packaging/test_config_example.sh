#!/usr/bin/env bash
# test_config_example.sh SOURCE_DIR DISPATCHER — the shipped example
# configuration is true: every key of dispatcher/config.c's table appears
# in contrib/dispatcher.conf.example, in docs/configuration.md, in the man
# page and in `owcp-dispatcher --help`; and `owcp-dispatcher check`
# accepts the example with its paths pointed at real files, both as
# shipped and with every commented default uncommented.
set -u
src=$1 disp=$2
here=$(dirname "$0")
# shellcheck source=conf_edit.sh
. "$here/conf_edit.sh"
example=$src/contrib/dispatcher.conf.example
fails=0
fail() { echo "FAIL $*"; fails=$((fails + 1)); }
ok() { echo "ok   $*"; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/owcp-example.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

mapfile -t keys < <(dispatcher_keys "$src")
[ "${#keys[@]}" -ge 20 ] || fail "only ${#keys[@]} keys found in dispatcher/config.c"
help=$("$disp" --help)
for k in "${keys[@]}"; do
  where=()
  grep -Eq "^#?$k = ?" "$example" || where+=(example)
  grep -Fq "| \`$k\` |" "$src/docs/configuration.md" || where+=(docs/configuration.md)
  grep -Fq "*$k*" "$src/docs/man/owcp-dispatcher.8.scd" || where+=("man page keys")
  grep -Fq -- "*--${k//_/-}*" "$src/docs/man/owcp-dispatcher.8.scd" || where+=("man page options")
  grep -Eq -- "^ +--${k//_/-}( |$)" <<<"$help" || where+=("--help")
  if [ ${#where[@]} -eq 0 ]; then ok "key $k documented"; else fail "key $k missing from: ${where[*]}"; fi
done

# The example's paths, pointed at files that exist.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj /CN=example.com -keyout "$tmp/privkey.pem" -out "$tmp/fullchain.pem" 2>/dev/null ||
  fail "openssl req"
chmod 600 "$tmp/privkey.pem"
adjust() {
  conf_set "$1" tls_cert "$tmp/fullchain.pem" && conf_set "$1" tls_key "$tmp/privkey.pem" &&
    conf_set "$1" key_dir "$tmp/keys"
}

# expect_check NAME FILE: owcp-dispatcher check passes it.
expect_check() {
  local out
  if out=$("$disp" check --config "$2" 2>&1) && grep -q 'configuration OK' <<<"$out"; then
    ok "$1"
  else
    fail "$1: $out"
  fi
}

cp "$example" "$tmp/shipped.conf"
adjust "$tmp/shipped.conf" || fail "the example lacks tls_cert, tls_key or key_dir"
expect_check "check accepts the example as shipped" "$tmp/shipped.conf"

# Every commented default uncommented: the defaults shown are valid values
# (a commented key without a value, like ready_file, gets one).
sed -E 's/^#([a-z_]+ = .+)$/\1/' "$example" >"$tmp/defaults.conf"
adjust "$tmp/defaults.conf"
conf_set "$tmp/defaults.conf" ready_file "$tmp/ready" || fail "the example lacks ready_file"
uncommented=$(grep -cE '^[a-z_]+ = ' "$tmp/defaults.conf")
[ "$uncommented" -ge "${#keys[@]}" ] || fail "only $uncommented keys set with the defaults uncommented"
expect_check "check accepts the example with every default uncommented" "$tmp/defaults.conf"

# The test can fail: a key the table does not know is refused.
printf 'no_such_key = 1\n' >>"$tmp/defaults.conf"
if "$disp" check --config "$tmp/defaults.conf" >/dev/null 2>&1; then fail "an unknown key passed check"; else ok "an unknown key is refused"; fi

[ "$fails" -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "all passed"
