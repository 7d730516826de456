#!/usr/bin/env bash
# GET /v2/projects/{id}: the taskboard (framework, RLS) against a hand-written axum + sqlx
# handler (JWT check, WHERE tenant_id AND id, no RLS), same machine, data and run, with wrk.
# Runs each side ROUNDS times alternately and reports medians, p99 and the throughput ratio.
#   usage: scripts/bench-http.sh [SECONDS=15] [CONNECTIONS=16] [ROUNDS=3]
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-15}"; conns="${2:-16}"; rounds="${3:-3}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
server="$(scripts/ensure-postgres.sh)"
db="bench_http_$$"
psql "$server" -qc "create database $db" >/dev/null
url="${server%/*}/$db"
target="${CARGO_TARGET_DIR:-target}"
cargo build -q --release -p taskboard -p bench-baseline
export TASKBOARD_ADMIN_TOKEN="bench-admin-$$" TASKBOARD_JWT_SECRET="bench-secret-$$-0123456789abcdef"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; psql "$server" -qc "drop database if exists $db with (force)" >/dev/null; }
trap cleanup EXIT
wait_for() { for _ in $(seq 1 100); do grep -q "listening on" "$1" 2>/dev/null && return 0; sleep 0.1; done; cat "$1"; return 1; }
DATABASE_URL="$url" "$target/release/taskboard" serve --listen 127.0.0.1:18181 >/tmp/bench-taskboard.log 2>&1 & pids+=($!)
wait_for /tmp/bench-taskboard.log
admin=(-s -H "Authorization: Bearer $TASKBOARD_ADMIN_TOKEN" -H "Content-Type: application/json")
tenant=$(curl "${admin[@]}" -d '{"slug":"bench","name":"Bench"}' http://127.0.0.1:18181/admin/tenants | python3 -c 'import json,sys;print(json.load(sys.stdin)["id"])')
token=$(curl "${admin[@]}" -d '{"subject":"bench","ttl_seconds":3600}' "http://127.0.0.1:18181/admin/tenants/$tenant/tokens" | python3 -c 'import json,sys;print(json.load(sys.stdin)["token"])')
for i in $(seq 1 50); do
  curl -s -o /dev/null -H "Authorization: Bearer $token" -H "Content-Type: application/json" -d "{\"name\":\"p$i\"}" http://127.0.0.1:18181/v2/projects
done
id=$(curl -s -H "Authorization: Bearer $token" "http://127.0.0.1:18181/v2/projects?limit=1" | python3 -c 'import json,sys;print(json.load(sys.stdin)["items"][0]["id"])')
DATABASE_URL="$url" "$target/release/bench-baseline" 127.0.0.1:18182 >/tmp/bench-baseline.log 2>&1 & pids+=($!)
wait_for /tmp/bench-baseline.log
for port in 18181 18182; do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "http://127.0.0.1:$port/v2/projects/$id")
  [ "$code" = 200 ] || { echo "port $port answered $code"; exit 1; }
done
run() { wrk -t2 -c"$conns" -d"${secs}s" --latency -H "Authorization: Bearer $token" "http://127.0.0.1:$1/v2/projects/$id"; }
results=$(mktemp)
for r in $(seq 1 "$rounds"); do
  for side in taskboard:18181 handwritten:18182; do
    out=$(run "${side#*:}")
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p99=$(echo "$out" | awk '$1=="99%" {print $2}')
    echo "${side%%:*} $rps $p99" >> "$results"
    echo "round $r ${side%%:*}: $rps req/s, p99 $p99"
  done
done
python3 - "$results" <<'PY'
import sys, statistics
rows = [l.split() for l in open(sys.argv[1])]
def ms(v):
    return float(v[:-2]) if v.endswith("ms") else float(v[:-2]) / 1000 if v.endswith("us") else float(v[:-1]) * 1000
by = {}
for side, rps, p99 in rows:
    by.setdefault(side, []).append((float(rps), ms(p99)))
med = {s: (statistics.median(r for r, _ in v), statistics.median(p for _, p in v)) for s, v in by.items()}
for s, (r, p) in med.items():
    print(f"{s:<12} median {r:>9.0f} req/s   p99 {p:6.2f} ms")
print(f"throughput ratio taskboard/handwritten: {med['taskboard'][0] / med['handwritten'][0]:.2f}")
PY
