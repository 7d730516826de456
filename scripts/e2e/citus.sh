#!/usr/bin/env bash
# The reference app on a real Citus cluster, from the outside, over HTTP: a fresh Citus database
# (on the coordinator and every worker, extension installed, workers registered) on the cluster
# scripts/ensure-citus.sh names or starts; the app started on it with nothing but DATABASE_URL;
# then: its tenant tables are hash-distributed by tenant; one tenant's project is another
# tenant's 404 (by id, in lists, for writes); the fixed hostile inputs of hostile_inputs.py get
# 4xx problem+json; schemathesis finds no 5xx. Prints PASS/FAIL lines and `N passed, N failed`.
#   E2E_MAX_EXAMPLES (default 100), SAAS_TOOLS_VENV (default /var/tmp/saas-tools-venv)
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=../lib/citus-db.sh
source scripts/lib/citus-db.sh

venv="${SAAS_TOOLS_VENV:-/var/tmp/saas-tools-venv}"
target="${CARGO_TARGET_DIR:-target}"
max_examples="${E2E_MAX_EXAMPLES:-100}"
# shellcheck source=../lib/checks.sh
source scripts/lib/checks.sh
app_pid="" db="" nodes=() tmp="" coordinator=""
finish() {
  local rc=$?
  set +e
  [ -n "$app_pid" ] && kill "$app_pid" 2>/dev/null && wait "$app_pid" 2>/dev/null
  [ -n "$db" ] && citus_drop_db "$coordinator" "$db"
  [ -n "$tmp" ] && rm -rf "$tmp"
  report_checks "$rc"
}
trap finish EXIT

coordinator="$(scripts/ensure-citus.sh)"
tmp="$(mktemp -d /tmp/taskboard-e2e-citus.XXXXXX)"
mapfile -t nodes < <(citus_nodes "$coordinator")
[ "${#nodes[@]}" -ge 2 ] || { fail "the coordinator $coordinator has workers"; exit 1; }

db="taskboard_e2e_citus_$(date +%s)_$$"
coordinator_db="$(citus_create_db "$coordinator" "$db")"
pass "a Citus database $db on ${#nodes[@]} nodes"

cargo build -q -p taskboard
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
admin="$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')"
: >"$tmp/app.log"
TASKBOARD_ADMIN_TOKEN="$admin" TASKBOARD_JWT_SECRET="$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')" \
  DATABASE_URL="$coordinator_db" "$target/debug/taskboard" serve --listen "127.0.0.1:$port" >"$tmp/app.log" 2>&1 &
app_pid=$!
for _ in $(seq 1 600); do
  grep -q 'listening on' "$tmp/app.log" && break
  kill -0 "$app_pid" 2>/dev/null || break
  sleep 0.2
done
grep -q 'listening on' "$tmp/app.log" || { fail "the app starts on Citus"; tail -n 20 "$tmp/app.log"; exit 1; }
pass "the app starts on Citus with DATABASE_URL alone (migrated, distributed, audited)"

distributed="$(psql "$coordinator_db" -XAtc "select count(*) from pg_dist_partition where partmethod = 'h' and logicalrelid::text in ('projects', 'tasks', 'saas_outbox', 'saas_audit_log', 'saas_processed_events') and colocationid = (select colocationid from pg_dist_partition where logicalrelid = 'projects'::regclass)")"
check "projects, tasks and the event tables are hash-distributed in one co-location group ($distributed of 5)" [ "$distributed" = 5 ]

admin_call() { curl -fsS --max-time 10 -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' "$@"; }
token_for() {
  local id
  id="$(admin_call -d "{\"slug\":\"$1\",\"name\":\"$1\",\"tier\":\"${2:-shared}\"}" "$base/admin/tenants" | jq -r .id)"
  echo "$id" >"$tmp/id-$1"
  admin_call -d '{"subject":"e2e","ttl_seconds":3600}' "$base/admin/tenants/$id/tokens" | jq -r .token
}
a="$(token_for acme)" b="$(token_for globex)"
status() { curl -s -o "$tmp/body" -w '%{http_code}' --max-time 10 -H "Authorization: Bearer $1" "${@:2}"; }
project="$(curl -fsS --max-time 10 -H "Authorization: Bearer $a" -H 'Content-Type: application/json' \
  -d '{"name":"on the shards"}' "$base/v2/projects" | jq -r .id)"
check "tenant A reads its project" [ "$(status "$a" "$base/v2/projects/$project")" = 200 ]
check "tenant B gets 404 for it" [ "$(status "$b" "$base/v2/projects/$project")" = 404 ]
status "$b" "$base/v2/projects" >/dev/null
check "tenant B's list does not hold it" [ "$(jq '.items | length' "$tmp/body")" = 0 ]
check "tenant B cannot delete it (404)" [ "$(status "$b" -X DELETE "$base/v2/projects/$project")" = 404 ]
check "tenant A still reads it" [ "$(status "$a" "$base/v2/projects/$project")" = 200 ]

# The schema tier: a distributed schema (Citus schema-based sharding) on one worker.
s="$(token_for initech schema)"
schema_project="$(curl -fsS --max-time 10 -H "Authorization: Bearer $s" -H 'Content-Type: application/json' \
  -d '{"name":"in its own schema"}' "$base/v2/projects" | jq -r .id)"
schema_tables="$(psql "$coordinator_db" -XAtc "select count(*) from pg_dist_partition p join pg_class c on c.oid = p.logicalrelid join pg_dist_schema s on s.schemaid = c.relnamespace where c.relname in ('projects', 'tasks')")"
check "the schema-tier tenant's tables are in a distributed schema ($schema_tables of 2)" [ "$schema_tables" = 2 ]
check "the schema-tier tenant reads its project" [ "$(status "$s" "$base/v2/projects/$schema_project")" = 200 ]
check "tenant A gets 404 for it" [ "$(status "$a" "$base/v2/projects/$schema_project")" = 404 ]
check "the schema-tier tenant gets 404 for A's project" [ "$(status "$s" "$base/v2/projects/$project")" = 404 ]
status "$s" "$base/v2/projects" >/dev/null
check "the schema-tier tenant's list holds its project only" [ "$(jq -c '[.items[].id]' "$tmp/body")" = "[\"$schema_project\"]" ]

# The dedicated tier: tenant A moved to shards of its own through the admin route.
moved_tier="$(admin_call -d '{"tier":"dedicated"}' "$base/admin/tenants/$(cat "$tmp/id-acme")/move" | jq -r .tier)"
check "tenant A moves to the dedicated tier through the admin API ($moved_tier)" [ "$moved_tier" = dedicated ]
isolated="$(psql "$coordinator_db" -XAtc "select count(*) from pg_dist_shard where shardid = get_shard_id_for_distribution_column('projects', '$(cat "$tmp/id-acme")'::uuid) and shardminvalue = shardmaxvalue")"
check "its projects are in a shard of its own ($isolated)" [ "$isolated" = 1 ]
check "tenant A still reads its project" [ "$(status "$a" "$base/v2/projects/$project")" = 200 ]
check "tenant B still gets 404 for it" [ "$(status "$b" "$base/v2/projects/$project")" = 404 ]

python3 scripts/e2e/hostile_inputs.py --base-url "$base" --token "$a" | tee "$tmp/hostile.out" || true
passed=$((passed + $(grep -c '^ok - ' "$tmp/hostile.out" || true)))
failed=$((failed + $(grep -c '^not ok - ' "$tmp/hostile.out" || true)))

if [ ! -x "$venv/bin/schemathesis" ]; then
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r scripts/e2e/requirements.txt
fi
if (cd "$tmp" && timeout 300 "$venv/bin/schemathesis" run "$base/openapi/v2.json" \
    --header "Authorization: Bearer $a" --checks not_a_server_error \
    --max-examples "$max_examples" --seed 1 --workers 1 --generation-database none --no-color \
    >"$tmp/schemathesis.log" 2>&1); then
  pass "schemathesis: no 5xx on Citus ($(grep -o '[0-9]* generated' "$tmp/schemathesis.log" | head -1))"
else
  fail "schemathesis on Citus"; tail -n 30 "$tmp/schemathesis.log"
fi
errors="$(grep -c ' ERROR ' "$tmp/app.log" || true)"
check "the app logged no error ($errors)" [ "$errors" = 0 ]
