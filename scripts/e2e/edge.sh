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
# shellcheck source=../lib/edge-stack.sh
source scripts/lib/edge-stack.sh
finish() {
  local rc=$?
  set +e
  edge_stack_cleanup
  report_checks "$rc"
}
trap finish EXIT

edge_stack_init taskboard-e2e-edge
cargo build -q -p taskboard

# A variant of this run's VCL whose edge refuses purges (503).
sed 's/if (req.method == "PURGE") {/if (req.method == "PURGE") { return (synth(503, "Purges paused"));/' \
  "$tmp/edge.vcl" >"$tmp/paused.vcl"
grep -q 'Purges paused' "$tmp/paused.vcl" || { fail "the VCL has the purge branch this script edits"; exit 1; }
app_bin="$target/debug/taskboard"
start_app "$app_bin" 300 || { fail "the app starts"; exit 1; }
check "Varnish serves deploy/edge/default.vcl in front of the app" start_varnish

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
start_app "$app_bin" 1 || { fail "the app restarts with a 1 s edge TTL"; exit 1; }
python3 scripts/e2e/edge_checks.py "$edge" "$app" "$admin" "$tmp" grace-fill || fail "filling the edge"
sleep 2
stop_app
sleep 4 # the probe marks the app sick
python3 scripts/e2e/edge_checks.py "$edge" "$app" "$admin" "$tmp" grace \
  && pass "with the app down, the edge answers from its stale entry (X-Edge-Stale, Age) and nothing for others" \
  || fail "grace with the app down"
