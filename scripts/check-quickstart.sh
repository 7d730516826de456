#!/usr/bin/env bash
# Runs the quickstart's curl session (docs/src/quickstart/session.sh) verbatim against the
# reference app, in a fresh database dropped afterwards, and checks what it printed: the
# created project, the list holding it, and v1's deprecation headers.
set -euo pipefail
cd "$(dirname "$0")/.."
server="$(scripts/ensure-postgres.sh)"
db="quickstart_$$"
psql "$server" -qc "create database $db" >/dev/null
cleanup() { psql "$server" -qc "drop database if exists $db with (force)" >/dev/null || true; }
trap cleanup EXIT
export DATABASE_URL="${server%/*}/$db"
# A debug build: CI has built it already (the session's commands are unchanged).
export TASKBOARD_PROFILE="${TASKBOARD_PROFILE:-dev}"
out="$(mktemp)"
if ! timeout 600 bash -euo pipefail docs/src/quickstart/session.sh >"$out" 2>&1; then
  cat "$out"; echo "FAIL: the quickstart session failed"; exit 1
fi
cat "$out"
check() {
  if grep -qiE "$1" "$out"; then echo "PASS: $2"; else echo "FAIL: $2"; exit 1; fi
}
check '"name":"Launch"' "the project was created"
check '"items":\[\{[^]]*"name":"Launch"' "the list holds it"
check '^deprecation: ' "v1 carries a Deprecation header"
check '^sunset: ' "v1 carries a Sunset header"
check '^link: .*successor-version' "v1 links its successor"
