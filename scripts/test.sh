#!/usr/bin/env bash
# Runs the whole test suite against a real PostgreSQL that this script provides
# (see scripts/ensure-postgres.sh), with nats-server installed (scripts/ensure-nats.sh) and a
# Redis answering on 127.0.0.1:6379 (scripts/ensure-redis.sh). Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
DATABASE_URL="$(scripts/ensure-postgres.sh)"
export DATABASE_URL
# The event tests start NATS servers of their own from this binary.
NATS_SERVER_BIN="$(scripts/ensure-nats.sh)"
export NATS_SERVER_BIN
# The rate-limit tests share this Redis, and start and stop one of their own from its binary.
REDIS_URL="$(scripts/ensure-redis.sh)"
export REDIS_URL
echo "tests run against $DATABASE_URL" >&2
cargo test --workspace "$@"
