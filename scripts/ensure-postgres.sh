#!/usr/bin/env bash
# Makes sure a PostgreSQL server that tests and the reference app can use is running, and
# prints its URL on stdout (diagnostics go to stderr).
#
# The finder is saas-devdb's `ensure-postgres` binary: the same code saas-testkit and
# saas-core's `dev-db` feature use (one way, one private port). Tried in order:
#   1. $SAAS_TEST_DATABASE_URL, then $DATABASE_URL, if it answers;
#   2. the local server on 127.0.0.1:5432 with trust auth for user postgres;
#   3. PostgreSQL is installed with apt-get when the server binaries or psql are missing (as
#      root, or with sudo); as root, Debian clusters on 5432 that are down are started
#      (pg_ctlcluster) and 5432 tried again;
#   4. a private cluster in $SAAS_PG_DIR (default /var/tmp/saas-pg) on port $SAAS_PG_PORT
#      (default 55432), trust auth on 127.0.0.1 only, fsync off: made for tests, never for data
#      you want to keep. When run as root it runs as the postgres user (PostgreSQL refuses root).
# SAAS_PG_SKIP_LOCAL=1 leaves the server on 5432 alone (steps 2 and 3's restart).
#
# The binary has no dependencies, so the first run on a fresh machine compiles it in seconds;
# it is built into the caller's CARGO_TARGET_DIR (default target/).
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --quiet --package saas-devdb --bin ensure-postgres -- "$@"
