#!/usr/bin/env bash
# test_migrate.sh OWCP-ADMIN SOURCE-DIR BUILD-DIR — the migration runner
# (service/migrate.c) through owcp-admin against the throwaway cluster of
# scripts/with-pg.sh (OWCP_TEST_DB; FAILS without it): idempotence,
# procedures restored, a database migrated by the old layout (tests/data/sql-0.1-dispatcher,
# each file once, as that code did) ends with the same
# functions as a fresh one, concurrent migrates, and the migrations found
# relative to the executable (build tree, a copied prefix, an installed
# prefix) with an error naming the paths tried when there are none.
set -u
admin=$1 src=$2 build=$3
: "${OWCP_TEST_DB:?OWCP_TEST_DB is not set: run under scripts/with-pg.sh}"
fails=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/owcp-migrate.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

fail() { echo "FAIL $*"; fails=$((fails + 1)); }
ok() { echo "ok   $*"; }
db() { printf '%s dbname=%s' "$OWCP_TEST_DB" "$1"; }
psql_db() { # psql_db DB ARGS...
  local d=$1; shift
  "$OWCP_PGBIN/psql" -qAt -v ON_ERROR_STOP=1 "$(db "$d")" "$@"
}
createdb() { "$OWCP_PGBIN/psql" -qAt -v ON_ERROR_STOP=1 "$OWCP_TEST_DB" -c "CREATE DATABASE $1"; }
# Every function of the public schema: signature and full definition.
functions() {
  psql_db "$1" -c "SELECT p.oid::regprocedure::text || E'\n' ||
    pg_get_functiondef(p.oid) FROM pg_proc p JOIN pg_namespace n ON
    n.oid = p.pronamespace WHERE n.nspname = 'public' ORDER BY 1"
}
migrations=$(ls "$src"/sql/dispatcher/[0-9][0-9][0-9]_*.sql | wc -l)
procedures=$(ls "$src"/sql/dispatcher/procedures/*.sql | wc -l)
# trigger functions live with their triggers in the numbered files
triggers=$(cat "$src"/sql/dispatcher/[0-9][0-9][0-9]_*.sql | grep -c '^CREATE FUNCTION')

# 1. Fresh database, then migrate again: nothing applied, same functions.
createdb fresh
out=$("$admin" --db "$(db fresh)" migrate 2>&1)
[ "$out" = "migrations applied: $migrations" ] && ok fresh || fail "fresh: $out"
functions fresh >"$tmp/fresh.txt"
nfun=$(psql_db fresh -c "SELECT count(*) FROM pg_proc p JOIN pg_namespace n
  ON n.oid = p.pronamespace WHERE n.nspname = 'public'")
# One function per procedure file, plus the trigger functions (e.g.
# owcp_log_immutable, with its triggers in 001).
[ "$nfun" -eq $((procedures + triggers)) ] && ok "function count $nfun" ||
  fail "function count: $nfun, want $((procedures + triggers))"
out=$("$admin" --db "$(db fresh)" migrate 2>&1)
[ "$out" = "migrations applied: 0" ] && ok again || fail "again: $out"
functions fresh | cmp -s - "$tmp/fresh.txt" && ok "again: same functions" ||
  fail "again: functions changed"

# 2. A procedure changed by hand is restored by the next migrate.
psql_db fresh -c "CREATE OR REPLACE FUNCTION owcp_account_add(p_address text)
  RETURNS integer LANGUAGE sql AS \$\$ SELECT 999 \$\$"
functions fresh | cmp -s - "$tmp/fresh.txt" && fail "tamper not visible"
"$admin" --db "$(db fresh)" migrate >/dev/null 2>&1 || fail "migrate after tamper"
functions fresh | cmp -s - "$tmp/fresh.txt" && ok "procedure restored" ||
  fail "procedure not restored"
out=$("$admin" --db "$(db fresh)" account add a@example.com 2>&1)
[[ $out == *added* ]] && ok "restored procedure works" || fail "account add: $out"

# 3. A database migrated by the old layout, as the old runner did it (each
# file in its own transaction, recorded), then by this one.
# The 0.1 layout's files are kept as test data (tests/data/sql-0.1-dispatcher,
# as released at fec58a3), so this runs in any clone, shallow or not.
old_sql="$src/tests/data/sql-0.1-dispatcher"
createdb old
psql_db old -c "CREATE TABLE schema_migrations (version integer PRIMARY
  KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
for f in "$old_sql"/[0-9][0-9][0-9]_*.sql; do
  name=$(basename "$f")
  psql_db old -1 -f "$f" \
    -c "INSERT INTO schema_migrations VALUES (${name%%_*}::int, '$name')" ||
    fail "old layout: $name"
done
[ "$(psql_db old -c 'SELECT count(*) FROM schema_migrations')" = 5 ] ||
  fail "old layout: not 5 migrations recorded"
out=$("$admin" --db "$(db old)" migrate 2>&1)
# the old layout stopped at 005: only the later numbered files are applied
[ "$out" = "migrations applied: $((migrations - 5))" ] &&
  ok "old layout: only the migrations after it" ||
  fail "old layout migrate: $out"
functions old | cmp -s - "$tmp/fresh.txt" &&
  ok "old layout: functions identical to a fresh database" ||
  { fail "old layout: functions differ"; functions old | diff - "$tmp/fresh.txt" | head -20; }

# 4. Two concurrent migrates of one new database: both succeed, one applies
# everything, the other nothing.
createdb race
"$admin" --db "$(db race)" migrate >"$tmp/r1" 2>&1 &
p1=$!
"$admin" --db "$(db race)" migrate >"$tmp/r2" 2>&1 &
p2=$!
wait $p1; rc1=$?
wait $p2; rc2=$?
got=$(sort "$tmp/r1" "$tmp/r2" | tr '\n' ' ')
want="migrations applied: 0 migrations applied: $migrations "
[ $rc1 -eq 0 ] && [ $rc2 -eq 0 ] && [ "$got" = "$want" ] &&
  ok "concurrent migrates" || fail "concurrent: rc $rc1 $rc2, '$got'"
[ "$(psql_db race -c 'SELECT count(*) FROM schema_migrations')" = "$migrations" ] ||
  fail "concurrent: schema_migrations"
functions race | cmp -s - "$tmp/fresh.txt" || fail "concurrent: functions"

# 5. Found relative to the executable: a prefix holding bin/owcp-admin and
# share/owcp/sql/dispatcher, moved anywhere.
mkdir -p "$tmp/prefix/bin" "$tmp/prefix/share/owcp/sql"
cp "$admin" "$tmp/prefix/bin/"
cp -RL "$build/share/owcp/sql/dispatcher" "$tmp/prefix/share/owcp/sql/"
createdb moved
out=$("$tmp/prefix/bin/owcp-admin" --db "$(db moved)" migrate 2>&1)
[ "$out" = "migrations applied: $migrations" ] && ok "prefix layout" ||
  fail "prefix layout: $out"
# None there: the error names both places looked at.
mkdir -p "$tmp/empty/bin"
cp "$admin" "$tmp/empty/bin/"
datadir=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$build/CMakeCache.txt")
out=$("$tmp/empty/bin/owcp-admin" --db "$(db moved)" migrate 2>&1)
rc=$?
if [ $rc -ne 0 ] &&
   [[ $out == *"$tmp/empty/bin/../share/owcp/sql/dispatcher"* ]] &&
   [[ $out == *"$datadir/share/owcp/sql/dispatcher"* ]]; then
  ok "none found: $out"
else
  fail "none found: rc $rc: $out"
fi
# An explicit --sql-dir wins over both.
out=$("$tmp/empty/bin/owcp-admin" --db "$(db moved)" --sql-dir "$src/sql/dispatcher" migrate 2>&1)
[ "$out" = "migrations applied: 0" ] && ok "--sql-dir" || fail "--sql-dir: $out"
out=$("$admin" --db "$(db moved)" --sql-dir "$src/sql" migrate 2>&1)
[[ $out == *"no NNN_name.sql migrations in $src/sql"* ]] && ok "--sql-dir without migrations" ||
  fail "--sql-dir without migrations: $out"

# 6. The installed tree: cmake --install puts owcp-admin and the migrations
# where the first works with the second.
if cmake --install "$build" --prefix "$tmp/inst" >"$tmp/install.log" 2>&1; then
  createdb installed
  out=$("$tmp/inst/sbin/owcp-admin" --db "$(db installed)" migrate 2>&1)
  [ "$out" = "migrations applied: $migrations" ] && ok "installed tree" ||
    fail "installed tree: $out"
  [ -f "$tmp/inst/share/owcp/sql/dispatcher/procedures/owcp_confirm.sql" ] ||
    fail "installed tree: procedures missing"
else
  fail "cmake --install"; cat "$tmp/install.log"
fi

echo "$fails failure(s)"
[ "$fails" -eq 0 ]
