#!/usr/bin/env bash
# Instructions per request of each versioned-router bench variant, counted by callgrind:
# repeatable on a noisy machine where wall time is not. Prints the ratio of the versioned
# current route to each plain baseline. Usage: scripts/bench-router-instructions.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-20000}"
command -v valgrind >/dev/null || { echo "valgrind is missing: apt-get install valgrind" >&2; exit 1; }
bin=$(cargo bench -p saas-core --bench versioned_router --no-run --message-format=json 2>/dev/null \
  | python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "versioned_router" and m.get("executable"):
        print(m["executable"])')
out=$(mktemp -d)
count() { # variant requests -> instructions
  ROUTER_BENCH_COUNT="$1:$2" valgrind --tool=callgrind --callgrind-out-file="$out/cg" "$bin" >/dev/null 2>"$out/log"
  grep -E '^summary:|^totals:' "$out/cg" | head -1 | awk '{print $2}'
}
declare -A per
for v in plain_axum plain_axum_same_routes plain_axum_same_work versioned_current versioned_deprecated; do
  base=$(count "$v" 0); total=$(count "$v" "$n")
  per[$v]=$(( (total - base) / n ))
  printf '%-24s %8d instructions/request\n' "$v" "${per[$v]}"
done
for b in plain_axum plain_axum_same_routes plain_axum_same_work; do
  python3 -c "print(f'versioned_current / $b: {${per[versioned_current]}/${per[$b]}:.3f}')"
done
rm -rf "$out"
