#!/usr/bin/env bash
# Runs the whole test suite against a real PostgreSQL that this script provides
# (see scripts/ensure-postgres.sh) and with nats-server installed (scripts/ensure-nats.sh). Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
DATABASE_URL="$(scripts/ensure-postgres.sh)"
export DATABASE_URL
# The event tests start NATS servers of their own from this binary.
NATS_SERVER_BIN="$(scripts/ensure-nats.sh)"
export NATS_SERVER_BIN
echo "tests run against $DATABASE_URL" >&2
cargo test --workspace "$@"
