#!/usr/bin/env bash
# Runs a command against a throwaway PostgreSQL 15 cluster.
#
#   scripts/with-pg.sh [--durable] COMMAND [ARGS...]
#
# The cluster lives in a fresh temporary directory, listens only on a Unix
# socket inside it (no TCP port to collide with), and is stopped and removed
# when the command exits, however it exits. The command sees:
#   OWCP_TEST_DB   a libpq conninfo string for the cluster's "owcp" database
#   OWCP_PGHOST    the socket directory;  OWCP_PGDATA  the data directory
#   OWCP_PGBIN     the PostgreSQL bin directory (for pgbench, psql, ...)
# By default fsync is off (tests need isolation, not durability); --durable
# keeps fsync and synchronous_commit on, as benchmarks and the run command
# need.
set -euo pipefail

durable=0
if [ "${1:-}" = "--durable" ]; then durable=1; shift; fi
if [ $# -eq 0 ]; then echo "usage: $0 [--durable] COMMAND [ARGS...]" >&2; exit 4; fi

PGBIN=$(ls -d /usr/lib/postgresql/15/bin 2>/dev/null || true)
if [ -z "$PGBIN" ]; then echo "with-pg: PostgreSQL 15 is not installed (run scripts/install-deps.sh)" >&2; exit 1; fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/owcp-pg.XXXXXX")
# PostgreSQL refuses to run as root: when we are root, run it as 'postgres'
# (created by the Debian package) and give that user the directory.
as=()
if [ "$(id -u)" -eq 0 ]; then
  chown postgres: "$dir"
  as=(runuser -u postgres --)
fi

cleanup() {
  "${as[@]}" "$PGBIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"${as[@]}" "$PGBIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 ||
  { cat "$dir/initdb.log" >&2; exit 1; }

opts="-c listen_addresses='' -c unix_socket_directories='$dir' -c max_connections=300"
opts="$opts -c shared_buffers=256MB"
if [ $durable -eq 0 ]; then
  opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
fi
"${as[@]}" "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -o "$opts" -w start >/dev/null ||
  { cat "$dir/server.log" >&2; exit 1; }
"${as[@]}" "$PGBIN/createdb" -h "$dir" -U postgres owcp

export OWCP_TEST_DB="host=$dir user=postgres dbname=owcp"
export OWCP_PGHOST="$dir" OWCP_PGDATA="$dir/data" OWCP_PGBIN="$PGBIN"
set +e
"$@"
rc=$?
set -e
exit $rc
