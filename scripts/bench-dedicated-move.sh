#!/usr/bin/env bash
# Times a tenant's move to the dedicated tier on a Citus cluster while writes continue, and
# checks that none was lost.
#
#   scripts/bench-dedicated-move.sh [ROWS]     (default 100000)
#
# A fresh Citus database on the cluster scripts/ensure-citus.sh names or starts; the reference
# app (release build) on it; a tenant with ROWS projects (inserted by the owner) and a
# neighbour; a writer creating projects for the tenant through the HTTP API (one curl at a
# time) for the whole move; `taskboard tenants move <slug> --to dedicated` timed. Then: every
# project the API acknowledged (201) is there, and the tenant's shards hold its hash value
# alone. Prints one summary line. Not run in CI (it measures).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/citus-db.sh
source scripts/lib/citus-db.sh

rows="${1:-100000}"
target="${CARGO_TARGET_DIR:-target}"
app_pid="" writer_pid="" db="" tmp="" coordinator=""
finish() {
  set +e
  [ -n "$writer_pid" ] && kill "$writer_pid" 2>/dev/null
  [ -n "$app_pid" ] && kill "$app_pid" 2>/dev/null && wait "$app_pid" 2>/dev/null
  [ -n "$db" ] && citus_drop_db "$coordinator" "$db"
  [ -n "$tmp" ] && rm -rf "$tmp"
}
trap finish EXIT

coordinator="$(scripts/ensure-citus.sh)"
tmp="$(mktemp -d /tmp/bench-dedicated.XXXXXX)"
db="bench_dedicated_$(date +%s)_$$"
url="$(citus_create_db "$coordinator" "$db")"
cargo build -q --release -p taskboard
app="$target/release/taskboard"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
admin="$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')"
export TASKBOARD_ADMIN_TOKEN="$admin" DATABASE_URL="$url"
export TASKBOARD_JWT_SECRET="$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
"$app" serve --listen "127.0.0.1:$port" >"$tmp/app.log" 2>&1 &
app_pid=$!
for _ in $(seq 1 300); do grep -q 'listening on' "$tmp/app.log" && break; sleep 0.2; done
grep -q 'listening on' "$tmp/app.log" || { tail -n 20 "$tmp/app.log"; exit 1; }

admin_call() { curl -fsS --max-time 30 -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' "$@"; }
tenant="$(admin_call -d '{"slug":"big","name":"big","tier":"shared"}' "$base/admin/tenants" | jq -r .id)"
admin_call -d '{"slug":"neighbour","name":"neighbour","tier":"shared"}' "$base/admin/tenants" >/dev/null
token="$(admin_call -d '{"subject":"bench","ttl_seconds":3600}' "$base/admin/tenants/$tenant/tokens" | jq -r .token)"
# The owner (a superuser here) is not held by row-level security.
psql "$url" -Xqc "insert into projects (tenant_id, name) select '$tenant', 'seed ' || g from generate_series(1, $rows) g"

# The writer: one project at a time, each response's status recorded.
(
  n=0
  while :; do
    curl -s -o /dev/null -w '%{http_code} %{time_total}\n' --max-time 60 -H "Authorization: Bearer $token" \
      -H 'Content-Type: application/json' -d "{\"name\":\"during $n\"}" "$base/v2/projects" >>"$tmp/codes"
    n=$((n + 1))
  done
) &
writer_pid=$!
sleep 2
started="$(date +%s.%N)"
"$app" tenants move big --to dedicated | tee "$tmp/move.out"
ended="$(date +%s.%N)"
sleep 2
kill "$writer_pid" 2>/dev/null; wait "$writer_pid" 2>/dev/null || true; writer_pid=""

created="$(grep -c '^201 ' "$tmp/codes" || true)"
others="$(grep -vc '^201 ' "$tmp/codes" || true)"
slowest="$(sort -k2 -n "$tmp/codes" | tail -n 1 | cut -d' ' -f2)"
stored="$(psql "$url" -XAtc "select count(*) from projects where tenant_id = '$tenant'")"
isolated="$(psql "$url" -XAtc "select count(*) from pg_dist_shard where shardid = get_shard_id_for_distribution_column('projects', '$tenant'::uuid) and shardminvalue = shardmaxvalue")"
# A request cut off when the writer stopped may have committed unacknowledged: more rows than
# acknowledged is not a loss.
lost=$((rows + created - stored)); [ "$lost" -lt 0 ] && lost=0
printf 'dedicated move of %s rows: %.1f s (command, start-up included; move %s); writes during the run: %s acknowledged, %s not, slowest %s s, lost %s; own shard: %s\n' \
  "$rows" "$(echo "$ended - $started" | bc)" "$(grep -o ' in [0-9.]*[a-z]*' "$tmp/move.out" | head -1)" \
  "$created" "$others" "$slowest" "$lost" "$isolated"
[ "$lost" -eq 0 ] && [ "$isolated" = 1 ]
