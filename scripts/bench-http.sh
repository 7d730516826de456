#!/usr/bin/env bash
# The reference app (framework: RLS, resolvers, telemetry, outbox) against the same routes
# written by hand on axum + sqlx (examples/bench-baseline), same machine, data and run, under
# wrk: read by id, list and create; 16 and 64 connections; one tenant's token and every
# tenant's token in turn; the servers alternate, order swapped each round. See
# scripts/bench-http.py for what is measured and how.
#   usage: scripts/bench-http.sh [--seconds 6] [--rounds 5] [--connections 16,64]
#          [--routes get,list,create] [--modes one,rotate] [--tenants 20] [--json FILE]
#          [--citus] [--taskboard-only]  (with BENCH_SERVER=<a Citus coordinator's URL>)
#          [--profile ROUTE:MODE:CONNS [--profile-dir DIR]]  (flamegraphs, syscalls/request)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
if [[ " $* " == *" --profile "* ]]; then
  # perf (cpu-clock samples), strace -c and inferno's flamegraphs, for --profile only.
  command -v perf >/dev/null || apt-get install -y -qq linux-perf >/dev/null
  command -v strace >/dev/null || apt-get install -y -qq strace >/dev/null
  command -v inferno-flamegraph >/dev/null || cargo install -q --locked inferno --version 0.12.8
fi
# BENCH_SERVER: another server (with --citus, a Citus coordinator: ../shared/citus/cluster.sh).
server="${BENCH_SERVER:-$(scripts/ensure-postgres.sh)}"
cargo build -q --release -p taskboard -p bench-baseline
exec python3 scripts/bench-http.py --server "$server" --target "${CARGO_TARGET_DIR:-target}" "$@"
