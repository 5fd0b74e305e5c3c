#!/usr/bin/env bash
# Sets up and runs owcp on this machine: installs what is missing, builds,
# provisions a throwaway durable PostgreSQL cluster, migrates it, creates a
# demo requestor and account, and runs the dispatcher in the foreground on
# plain HTTP bound to loopback (Ctrl-C stops it and removes the database).
#
#   scripts/run.sh [PORT]        (default port 8480)
#
# scripts/run-dispatcher.sh is the part that runs inside the throwaway
# cluster (scripts/with-pg.sh runs one command with OWCP_TEST_DB set).
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${1:-8480}

scripts/install-deps.sh run
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null

exec scripts/with-pg.sh --durable scripts/run-dispatcher.sh "$PORT"
