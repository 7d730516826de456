#!/usr/bin/env bash
# The reference app behind a real Varnish (deploy/edge/default.vcl), from the outside: project
# reads opted into per-tenant edge caching (TASKBOARD_EDGE_PURGE_URL), purged by domain events
# through the outbox relay. Checks: 1,000 interleaved requests of 20 tenants through the edge
# never get another tenant's body (and some are edge hits, so the check means something); a
# write is visible on the next read through the edge (a purge, not an expiry: the TTL is 300 s);
# a purge drops exactly the written tenant's entries; purges refused by the edge are retried,
# not lost; with the app down the edge serves stale entries and says so. Prints PASS/FAIL lines
# and `N passed, N failed`.
set -euo pipefail
cd "$(dirname "$0")/../.."

target="${CARGO_TARGET_DIR:-target}"
# shellcheck source=../lib/checks.sh
source scripts/lib/checks.sh
app_pid="" varnish_pid="" db="" server="" tmp=""
finish() {
  local rc=$?
  set +e
  [ -n "$app_pid" ] && kill "$app_pid" 2>/dev/null && wait "$app_pid" 2>/dev/null
  [ -n "$varnish_pid" ] && kill "$varnish_pid" 2>/dev/null && wait "$varnish_pid" 2>/dev/null
  [ -n "$db" ] && psql "$server" -qc "drop database if exists \"$db\" with (force)" >/dev/null 2>&1
  [ -n "$tmp" ] && rm -rf "$tmp"
  report_checks "$rc"
}
trap finish EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
varnishd_bin="$(scripts/ensure-varnish.sh)"
server="$(scripts/ensure-postgres.sh)"
tmp="$(mktemp -d /tmp/taskboard-e2e-edge.XXXXXX)"
chmod 755 "$tmp"
db="taskboard_e2e_edge_$(date +%s)_$$"
psql "$server" -qc "create database \"$db\"" >/dev/null
app_db="$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' "$server" "$db")"
cargo build -q -p taskboard
app_port="$(free_port)" edge_port="$(free_port)"
app="http://127.0.0.1:$app_port" edge="http://127.0.0.1:$edge_port"
admin="$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')"
secret="$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"

start_app() { # $1: the edge TTL
  : >"$tmp/app.log"
  TASKBOARD_ADMIN_TOKEN="$admin" TASKBOARD_JWT_SECRET="$secret" TASKBOARD_EDGE_PURGE_URL="$edge/" \
    TASKBOARD_EDGE_TTL="$1" DATABASE_URL="$app_db" \
    "$target/debug/taskboard" serve --listen "127.0.0.1:$app_port" >"$tmp/app.log" 2>&1 &
  app_pid=$!
  for _ in $(seq 1 600); do
    grep -q 'listening on' "$tmp/app.log" && return 0
    kill -0 "$app_pid" 2>/dev/null || break
    sleep 0.2
  done
  tail -n 20 "$tmp/app.log"; return 1
}
stop_app() { kill "$app_pid" 2>/dev/null; wait "$app_pid" 2>/dev/null || true; app_pid=""; }

# The shipped VCL with this run's backend port; and a variant whose edge refuses purges (503).
sed "s/\.port = \"8080\";/.port = \"$app_port\";/" deploy/edge/default.vcl >"$tmp/edge.vcl"
sed 's/if (req.method == "PURGE") {/if (req.method == "PURGE") { return (synth(503, "Purges paused"));/' \
  "$tmp/edge.vcl" >"$tmp/paused.vcl"
grep -q 'Purges paused' "$tmp/paused.vcl" || { fail "the VCL has the purge branch this script edits"; exit 1; }
"$varnishd_bin" -F -n "$tmp/varnish" -a "127.0.0.1:$edge_port" -f "$tmp/edge.vcl" -s malloc,64m \
  >"$tmp/varnish.log" 2>&1 &
varnish_pid=$!
start_app 300 || { fail "the app starts"; exit 1; }
for _ in $(seq 1 100); do curl -fsS -o /dev/null "$edge/livez" 2>/dev/null && break; sleep 0.2; done
check "Varnish serves deploy/edge/default.vcl in front of the app" curl -fsS -o /dev/null "$edge/livez"

# Through the edge from here on (writes pass through it).
python3 scripts/e2e/edge_checks.py "$edge" "$app" "$admin" "$tmp" && pass "edge checks (see above)" || fail "edge checks (see above)"

# Purges refused by the edge are retried, not lost.
adm="$(command -v varnishadm)"
"$adm" -n "$tmp/varnish" vcl.load paused "$tmp/paused.vcl" >/dev/null
"$adm" -n "$tmp/varnish" vcl.use paused >/dev/null
python3 scripts/e2e/edge_checks.py "$edge" "$app" "$admin" "$tmp" purge-paused \
  && pass "a write while the edge refuses purges: the stale entry stays, the event stays in the outbox" \
  || fail "a write while the edge refuses purges"
unpublished="$(psql "$app_db" -XAtc "select count(*) from saas_outbox where parked_at is null")"
check "the refused purge is still in the outbox ($unpublished event(s)), not parked" [ "$unpublished" -ge 1 ]
"$adm" -n "$tmp/varnish" vcl.use boot >/dev/null
python3 scripts/e2e/edge_checks.py "$edge" "$app" "$admin" "$tmp" purge-resumed \
  && pass "once the edge takes purges again, the retried purge lands and the write shows through the edge" \
  || fail "the retried purge"

# With the app down, the edge serves what it has, stale, and says so.
stop_app
start_app 1 || { fail "the app restarts with a 1 s edge TTL"; exit 1; }
python3 scripts/e2e/edge_checks.py "$edge" "$app" "$admin" "$tmp" grace-fill || fail "filling the edge"
sleep 2
stop_app
sleep 4 # the probe marks the app sick
python3 scripts/e2e/edge_checks.py "$edge" "$app" "$admin" "$tmp" grace \
  && pass "with the app down, the edge answers from its stale entry (X-Edge-Stale, Age) and nothing for others" \
  || fail "grace with the app down"
