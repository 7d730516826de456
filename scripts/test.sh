#!/usr/bin/env bash
# Runs the whole test suite against a real PostgreSQL that this script provides
# (see scripts/ensure-postgres.sh). Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
DATABASE_URL="$(scripts/ensure-postgres.sh)"
export DATABASE_URL
echo "tests run against $DATABASE_URL" >&2
cargo test --workspace "$@"
