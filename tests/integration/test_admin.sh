#!/usr/bin/env bash
# test_admin.sh OWCP-ADMIN — owcp-admin's output and exit codes against the
# throwaway cluster of scripts/with-pg.sh (OWCP_TEST_DB; FAILS without it).
set -u
admin=$1
: "${OWCP_TEST_DB:?OWCP_TEST_DB is not set: run under scripts/with-pg.sh}"
fails=0
# shellcheck source=itest_lib.sh
. "$(dirname "$0")/itest_lib.sh"
A() { "$admin" --db "$OWCP_TEST_DB" "$@"; }
psql() { "$OWCP_PGBIN/psql" -qAt -v ON_ERROR_STOP=1 "$OWCP_TEST_DB" "$@"; }

expect help 0 'log verify' -- "$admin" --help
expect help-exit-codes 0 'Exit status' -- "$admin" --help
expect help-runtime-role 0 'migrate \[--runtime-role ROLE\]' -- "$admin" --help
expect help-log-head 0 'log verify \[--head FILE\]' -- "$admin" --help
expect no-command 2 'missing COMMAND' -- A
expect unknown-command 2 "unknown command 'frob'" -- A frob
expect bad-db 3 'database unavailable' -- "$admin" --db "host=/nonexistent" migrate
# One migration per numbered file in sql/dispatcher/.
migrations=$(ls "$(dirname "$0")"/../../sql/dispatcher/[0-9][0-9][0-9]_*.sql | wc -l)
expect migrate 0 "migrations applied: $migrations" -- A migrate
expect migrate-again 0 'migrations applied: 0' -- A migrate
expect migrate-bad-arg 2 "unexpected argument 'now'" -- A migrate now
expect account-add 0 'account alice@example.com added' -- A account add alice@EXAMPLE.com
expect account-dup 1 "already exists" -- A account add alice@example.com
expect account-bad 2 "not an address" -- A account add not-an-address
expect account-list 0 $'alice@example.com\tactive' -- A account list
expect code-issue 0 '^[A-Za-z0-9_-]{32}$' -- A code issue alice@example.com --ttl 60
expect code-bad-ttl 2 'ttl' -- A code issue alice@example.com --ttl -5
expect code-unknown 1 'not found' -- A code issue bob@example.com
[ "$(psql -c "SELECT count(*) FROM enrollment_codes WHERE octet_length(code_hash) = 32")" = 1 ] ||
  { echo "FAIL code stored as hash"; fails=$((fails + 1)); }
token=$(A requestor add access@example.com --rate 5)
if [[ ! $token =~ ^[A-Za-z0-9_-]{32}$ ]]; then echo "FAIL requestor token '$token'"; fails=$((fails + 1)); fi
[ "$(psql -c "SELECT encode(token_hash, 'hex') FROM requestors")" = "$(printf %s "$token" | sha256sum | cut -d' ' -f1)" ] ||
  { echo "FAIL token stored as SHA-256"; fails=$((fails + 1)); }
expect requestor-dup 1 'already exists' -- A requestor add access@example.com
expect requestor-list 0 $'access@example.com\tactive\t5' -- A requestor list
expect requestor-disable 0 'disabled' -- A requestor disable access@example.com
expect requestor-disable-again 1 'not found' -- A requestor disable access@example.com
expect client-list 0 '' -- A client list alice@example.com
expect client-revoke-unknown 1 'not found' -- A client revoke nosuchclientid12345
expect account-disable 0 'disabled' -- A account disable alice@example.com
expect log-show 0 'account.added account=alice@example.com' -- A log show
expect log-filter 0 '^[0-9]+ [^ ]+ requestor.added requestor=access@example.com' -- A log show --event requestor.added
expect log-json 0 '"event":"code.issued"' -- A log show --json --account alice@example.com --event code.issued
expect log-since 0 '^$' -- A log show --since 2999-01-01T00:00:00Z
expect log-bad-time 2 'since' -- A log show --since yesterday
expect log-verify 0 'log chain OK: 5 entries' -- A log verify
expect log-verify-prints 0 'verified position: 5' -- A log verify
expect log-verify-no-head 0 'no signed head checked' -- A log verify
expect log-refuses-update 1 'append-only' -- psql -c "UPDATE log SET detail = 'x' WHERE seq = 2"
psql -c "ALTER TABLE log DISABLE TRIGGER ALL; UPDATE log SET detail = 'forged' WHERE seq = 2"
expect log-verify-tampered 1 'first broken position: 2' -- A log verify

echo "$fails failure(s)"
[ "$fails" -eq 0 ]
