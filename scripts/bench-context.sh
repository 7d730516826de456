#!/usr/bin/env bash
# How the tenant context can reach PostgreSQL (connect time, its own round trip, one simple
# query, pipelined with the query) against the hand-written read, with pgbench on one server
# and in one run; isolation of each way checked before timing. See scripts/bench-context.py.
#   usage: scripts/bench-context.sh [--seconds 8] [--rounds 3] [--clients 16,64] [--json FILE]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v pgbench >/dev/null || { apt-get update -qq && apt-get install -y -qq postgresql-client >/dev/null; }
server="${BENCH_SERVER:-$(scripts/ensure-postgres.sh)}"
exec python3 scripts/bench-context.py --server "$server" "$@"
