#!/usr/bin/env python3
"""Prints each benchmark of a criterion group relative to its baseline, from the estimates of
the last run (target/criterion/<group>/<bench>/new/estimates.json).

usage: bench-ratios.py GROUP [BASELINE]   (BASELINE defaults to the first of handwritten,
plain_axum, sqlx_test, baseline that exists)"""
import json, os, sys

group = sys.argv[1]
# Criterion writes under the target folder of the bench's working directory (its package).
candidates = [os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "criterion", group)]
candidates += [os.path.join(pkg, "target", "criterion", group) for pkg in ("saas-core", "saas-testkit")]
root = next((c for c in candidates if os.path.isdir(c)), candidates[0])
benches = {}
for name in sorted(os.listdir(root)):
    path = os.path.join(root, name, "new", "estimates.json")
    if os.path.exists(path):
        with open(path) as f:
            e = json.load(f)
        benches[name] = (e["median"]["point_estimate"], e["mean"]["point_estimate"])
base = sys.argv[2] if len(sys.argv) > 2 else next(
    b for b in ("handwritten", "plain_axum", "sqlx_test", "baseline") if b in benches)
bm = benches[base][0]
print(f"{'benchmark':<24} {'median':>12} {'latency ratio':>14} {'throughput ratio':>17}")
for name, (median, _) in benches.items():
    print(f"{name:<24} {median/1000:>10.2f}us {median/bm:>14.2f} {bm/median:>17.2f}")
