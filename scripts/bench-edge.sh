#!/usr/bin/env bash
# Read by id through the edge (Varnish with deploy/edge/default.vcl, warm per-tenant entry)
# against the same read straight from the app, and a 304 revalidation (If-None-Match) against
# a full 200, on the app: wrk, same machine and run, the variants alternating for ROUNDS
# rounds; prints a table of medians (req/s, p50, p99).
#   usage: scripts/bench-edge.sh [SECONDS (6)] [ROUNDS (3)] [CONNECTIONS (16)]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-6}" rounds="${2:-3}" conns="${3:-16}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
target="${CARGO_TARGET_DIR:-target}"
cargo build -q --release -p taskboard
# shellcheck source=lib/edge-stack.sh
source scripts/lib/edge-stack.sh
trap edge_stack_cleanup EXIT
edge_stack_init bench-edge
EDGE_APP_ENV="RUST_LOG=warn" start_app "$target/release/taskboard" 3600 || { echo "the app did not start" >&2; exit 1; }
start_varnish || { echo "the edge did not start" >&2; exit 1; }
admin_call() { curl -fsS -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' "$@"; }
tenant="$(admin_call -d '{"slug":"bench","name":"Bench"}' "$app/admin/tenants" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
token="$(admin_call -d '{"subject":"bench","ttl_seconds":3600}' "$app/admin/tenants/$tenant/tokens" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')"
project="$(curl -fsS -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -d '{"name":"bench"}' "$app/v2/projects" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
path="/v2/projects/$project"
etag="$(curl -fsS -D - -o /dev/null -H "Authorization: Bearer $token" "$app$path" | tr -d '\r' | sed -n 's/^etag: //Ip')"
curl -fsS -o /dev/null -H "Authorization: Bearer $token" "$edge$path"
hit="$(curl -fsS -D - -o /dev/null -H "Authorization: Bearer $token" "$edge$path" | tr -d '\r' | sed -n 's/^x-edge-cache: //Ip')"
[ "$hit" = HIT ] || { echo "the edge does not hold the entry (X-Edge-Cache: $hit)" >&2; exit 1; }
status="$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" -H "If-None-Match: $etag" "$app$path")"
[ "$status" = 304 ] || { echo "the revalidation is not a 304 ($status)" >&2; exit 1; }

run() { # $1 label, $2 url, extra headers...
  local label="$1" url="$2"; shift 2
  local args=(-t2 -c"$conns" -d"${seconds}s" --latency -H "Authorization: Bearer $token")
  for h in "$@"; do args+=(-H "$h"); done
  wrk "${args[@]}" "$url" >"$tmp/wrk.out"
  python3 - "$label" "$tmp/wrk.out" >>"$tmp/results" <<'PY'
import re, sys
label, text = sys.argv[1], open(sys.argv[2]).read()
def ms(v):
    n, unit = re.match(r"([\d.]+)(us|ms|s)", v).groups()
    return float(n) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
p50 = ms(re.search(r"^\s+50%\s+(\S+)", text, re.M).group(1))
p99 = ms(re.search(r"^\s+99%\s+(\S+)", text, re.M).group(1))
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
print(f"{label}\t{rps}\t{p50}\t{p99}\t{errors.group(1) if errors else 0}")
PY
}
: >"$tmp/results"
for round in $(seq 1 "$rounds"); do
  if [ $((round % 2)) -eq 1 ]; then
    run "edge, warm entry" "$edge$path"; run "app, 200" "$app$path"
    run "app, 304 (If-None-Match)" "$app$path" "If-None-Match: $etag"
  else
    run "app, 304 (If-None-Match)" "$app$path" "If-None-Match: $etag"
    run "app, 200" "$app$path"; run "edge, warm entry" "$edge$path"
  fi
done
python3 - "$tmp/results" "$seconds" "$rounds" "$conns" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    label, rps, p50, p99, errors = line.rstrip("\n").split("\t")
    rows.setdefault(label, []).append((float(rps), float(p50), float(p99), int(errors)))
print(f"read by id, {sys.argv[4]} connections, wrk -t2, {sys.argv[2]} s x {sys.argv[3]} rounds (medians):")
print("| variant | req/s | p50 | p99 | non-2xx/3xx |")
print("|---|---|---|---|---|")
base = statistics.median(r[0] for r in rows["app, 200"])
for label in ["app, 200", "edge, warm entry", "app, 304 (If-None-Match)"]:
    r = rows[label]
    rps = statistics.median(x[0] for x in r)
    print(f"| {label} | {rps:,.0f} ({rps / base:.2f}x) | {statistics.median(x[1] for x in r):.2f} ms | "
          f"{statistics.median(x[2] for x in r):.2f} ms | {sum(x[3] for x in r)} |")
PY
