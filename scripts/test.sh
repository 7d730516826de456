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

# The Citus suite: saas-core's tests (all but one module, below), the reference app's, the
# testkit's leak checks and the quickstart's, again on a real Citus cluster (a coordinator and two workers) that scripts/ensure-citus.sh
# names or starts. Without one it says it skips, except in CI (CI=true), where it never skips. Only for a
# whole run: extra arguments (a test filter) run the plain suite alone.
[ "$#" -eq 0 ] || exit 0
set +e
citus_url="$(scripts/ensure-citus.sh)"
status=$?
set -e
if [ "$status" -eq 3 ] && [ "${CI:-}" != "true" ]; then
  echo "SKIPPED: the Citus suite (no CITUS_URL, no ../shared/citus/cluster.sh)" >&2
  exit 0
elif [ "$status" -ne 0 ]; then
  echo "FAIL: the Citus suite cannot run (scripts/ensure-citus.sh exited $status; CI never skips it)" >&2
  exit 1
fi
echo "the Citus suite runs against $citus_url" >&2
# Every module of saas-core's suite but events_restart:: (it restarts a plain PostgreSQL of its
# own), with the NATS and Redis ones.
CITUS_URL="$citus_url" cargo test -p saas-core --features nats,redis --test it -- --include-ignored \
  citus:: citus_dedicated:: rls:: audit:: events:: events_nats:: moves:: tiers:: cache:: \
  cache_redis:: conditional:: edge:: http:: models:: ratelimit:: ratelimit_redis:: read_only:: \
  replicas:: role_names:: health:: move_failures::
CITUS_URL="$citus_url" cargo test -p taskboard --test it
# The testkit's own isolation checks (they must still catch a leaky handler there) and the
# quickstart's tests.
CITUS_URL="$citus_url" cargo test -p saas-testkit --test isolation_leaks
CITUS_URL="$citus_url" cargo test -p notes --test notes
