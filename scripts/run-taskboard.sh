#!/usr/bin/env bash
# Runs the reference app against a PostgreSQL that this script provides
# (see scripts/ensure-postgres.sh), in the database `taskboard` unless DATABASE_URL is set.
#   scripts/run-taskboard.sh --listen 127.0.0.1:8080   # `taskboard serve --listen ...`
#   scripts/run-taskboard.sh tenants create acme       # any other subcommand, same database
# TASKBOARD_PROFILE picks the cargo profile (default release).
set -euo pipefail
cd "$(dirname "$0")/.."
server="$(scripts/ensure-postgres.sh)"
if [ -z "${DATABASE_URL:-}" ]; then
  psql "$server" -Atqc "select 1 from pg_database where datname = 'taskboard'" | grep -q 1 \
    || psql "$server" -qc "create database taskboard" >/dev/null
  DATABASE_URL="${server%/*}/taskboard"
fi
export DATABASE_URL
args=("$@")
if [ "${#args[@]}" -eq 0 ] || [[ "${args[0]}" == -* ]]; then
  args=(serve "${args[@]}")
fi
exec cargo run --quiet --profile "${TASKBOARD_PROFILE:-release}" -p taskboard -- "${args[@]}"
