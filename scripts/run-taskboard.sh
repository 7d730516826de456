#!/usr/bin/env bash
# Runs the reference app against a PostgreSQL that this script provides
# (see scripts/ensure-postgres.sh). Extra arguments go to `taskboard serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
server="$(scripts/ensure-postgres.sh)"
if [ -z "${DATABASE_URL:-}" ]; then
  psql "$server" -Atqc "select 1 from pg_database where datname = 'taskboard'" | grep -q 1 \
    || psql "$server" -qc "create database taskboard" >/dev/null
  DATABASE_URL="${server%/*}/taskboard"
fi
export DATABASE_URL
exec cargo run --release -p taskboard -- serve "$@"
